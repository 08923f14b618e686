// Entry point bundled by the stack; its implementation replaces this module.
export const handler = async (): Promise<never> => {
  throw new Error('handler not implemented yet');
};
