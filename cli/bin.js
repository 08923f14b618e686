#!/usr/bin/env node
// The `gpujobs` executable: runs the TypeScript CLI through tsx, so `npx gpujobs` works without a build step.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// Compile with the project's settings, whatever tsconfig.json the caller's working directory holds.
const projectTsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url));
register({ tsconfig: existsSync(projectTsconfig) ? projectTsconfig : false });
await import('./main.ts');
