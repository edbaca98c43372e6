// The OpenAPI document as the app serves it, formatted as it is committed.
import { fileURLToPath } from 'node:url';
import { buildApp } from '../../src/app.js';
import { loadSettings } from '../../src/config/settings.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function openapiDocument (): Promise<string> {
  const settings = loadSettings({ env: { KUBE_MODE: 'local' }, cwd: ROOT });
  const app = await buildApp({ settings });
  try {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    return `${JSON.stringify(res.json(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}
