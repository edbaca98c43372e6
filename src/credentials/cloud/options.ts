// The notation of `ecr:`, `gcp:` and `acr:` references: optional comma-separated
// `key=value` options after the type word, each provider with its own keys.
import { InvalidCredentialSpec } from '../../errors.js';
import type { CloudProvider, CloudReference } from '../types.js';
import { own } from '../../own.js';

interface OptionRule { re: RegExp, what: string }

const REGION: OptionRule = { re: /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, what: 'an AWS region such as eu-west-1' };
// IAM role names may hold "," too, which the option list cannot carry
const ROLE: OptionRule = { re: /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/[\w+=.@/-]{1,512}$/, what: 'an IAM role ARN (arn:aws:iam::<account>:role/<name>)' };
const TENANT: OptionRule = { re: /^[A-Za-z0-9]([-A-Za-z0-9.]{0,253}[A-Za-z0-9])?$/, what: 'a Microsoft Entra tenant ID or domain' };
const CLIENT_ID: OptionRule = { re: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, what: 'a client ID (GUID)' };

/** the keys each provider takes, in canonical order */
export const CLOUD_OPTIONS: Record<CloudProvider, Record<string, OptionRule>> = {
  ecr: { region: REGION, role: ROLE },
  gcp: {},
  acr: { tenant: TENANT, clientId: CLIENT_ID }
};

function invalid (message: string): Error {
  return new InvalidCredentialSpec(message);
}

/** Parse the text after `ecr:`, `gcp:` or `acr:` (may be empty). Messages name keys, never values. */
export function parseCloudReference (type: CloudProvider, value: string): CloudReference {
  const rules = CLOUD_OPTIONS[type];
  const known = Object.keys(rules);
  const takes = known.length === 0 ? `${type}: takes no options` : `${type}: takes ${known.map((k) => `${k}=…`).join(', ')}`;
  const options: Record<string, string> = {};
  if (value === '') return { type, options };
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid(`${type}: options are comma-separated key=value pairs; ${takes}`);
    const key = part.slice(0, eq);
    const v = part.slice(eq + 1);
    const rule = own(rules, key);
    if (rule === undefined) throw invalid(`unknown option "${/^[A-Za-z]{1,32}$/.test(key) ? key : '?'}"; ${takes}`);
    if (Object.hasOwn(options, key)) throw invalid(`${type}: option ${key} is given twice`);
    if (v === '') throw invalid(`${type}: empty value for ${key}`);
    if (!rule.re.test(v)) throw invalid(`${type}: ${key} is not ${rule.what}`);
    options[key] = v;
  }
  return { type, options };
}

/** canonical form: options in the provider's key order */
export function formatCloudReference (ref: CloudReference): string {
  const parts = Object.keys(CLOUD_OPTIONS[ref.type]).filter((k) => ref.options[k] !== undefined).map((k) => `${k}=${ref.options[k] as string}`);
  return `${ref.type}:${parts.join(',')}`;
}
