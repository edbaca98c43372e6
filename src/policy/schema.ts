// The policy file's shape (AUTH_POLICY_PATH, see docs/configuration.md "Callers: authentication and policy"), as one
// TypeBox schema; the globs inside are checked when the rules are compiled.
import { Type, type Static } from '@sinclair/typebox';

export const POLICY_ACTIONS = ['resolve', 'explain', 'test', 'validate', 'registries', 'status', 'invalidate'] as const;
export type PolicyAction = typeof POLICY_ACTIONS[number];

export const MAX_POLICY_BYTES = 1024 * 1024;
export const MAX_RULES = 1000;
export const MAX_PATTERNS = 1000;
export const MAX_PATTERN_LENGTH = 512;

const Pattern = Type.String({ minLength: 1, maxLength: MAX_PATTERN_LENGTH });
const Patterns = (minItems: number) => Type.Array(Pattern, { minItems, maxItems: MAX_PATTERNS });

export const PolicyRuleSchema = Type.Object({
  /** caller-name globs, `user:<glob>`, `group:<glob>` */
  subjects: Patterns(1),
  actions: Type.Array(Type.Union(POLICY_ACTIONS.map((a) => Type.Literal(a)), { title: 'action' }),
    { minItems: 1, maxItems: POLICY_ACTIONS.length * 4 }),
  /** registry prefix globs; absent: every registry */
  registries: Type.Optional(Patterns(1)),
  /** credential reference globs a request's `credentials` may name; absent: none */
  overrides: Type.Optional(Patterns(0)),
  /** `namespace/name` globs of the Argo CD Applications a request may name; absent: none */
  applications: Type.Optional(Patterns(0))
}, { additionalProperties: false, description: 'a rule has subjects and actions' });

export const PolicyFileSchema = Type.Object({
  rules: Type.Array(PolicyRuleSchema, { maxItems: MAX_RULES })
}, { additionalProperties: false, description: 'a policy has a rules list' });

export type PolicyRule = Static<typeof PolicyRuleSchema>;
