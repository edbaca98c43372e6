// Writes openapi/openapi.json from the running app's schemas (npm run openapi).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openapiDocument } from '../test/helpers/openapi.js';

const target = fileURLToPath(new URL('../openapi/openapi.json', import.meta.url));
writeFileSync(target, await openapiDocument());
process.stdout.write(`wrote ${target}\n`);
