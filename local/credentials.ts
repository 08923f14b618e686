/** What local clients sign with: the stand-ins accept any signature, and nothing leaves this machine. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
