// The import rules of src/ (README "Architecture"), checked by test/architecture/imports.test.ts
// and by `npm run check:imports`. Imports flow one way:
//
//   main.ts, cli/  →  app.ts  →  http/  →  credentials/, policy/  →  registry/, kube/, argocd/  →  config/, transport/
//
// and every room may use the leaf modules at the top of src/ (errors, metrics, cache, logger,
// own, version), which import no room. A room imports only rooms below it, never a sibling:
// a type a lower room needs moves down instead of being imported up.
const ROOMS = '(http|credentials|policy|registry|kube|argocd|config|transport)';

/** @param {string} name @param {string} from @param {string} to @param {string} comment */
const forbid = (name, from, to, comment) => ({ name, severity: 'error', comment, from: { path: from }, to: { path: to } });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'a module cycle: one of them owns what the other needs, move it there',
      from: { path: '^src/' },
      to: { circular: true }
    },
    {
      name: 'entry-points-stay-on-top',
      severity: 'error',
      comment: 'main.ts and cli/ are processes; only cli/ (credbroker serve) runs main',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/(main\\.ts|cli/)' }
    },
    forbid('composition-root-on-top', `^src/${ROOMS}/|^src/(?!app\\.ts|main\\.ts)[^/]+\\.ts$`, '^src/app\\.ts$',
      'app.ts composes the rooms; no room imports it'),
    forbid('domain-knows-no-http', '^src/(credentials|policy|registry|kube|argocd|config|transport)/|^src/(?!app\\.ts|main\\.ts)[^/]+\\.ts$', '^src/http/',
      'http/ is the top room: the domain knows nothing of it'),
    forbid('credentials-and-policy-are-siblings', '^src/credentials/', '^src/policy/',
      'credentials/ and policy/ sit side by side; http/ uses both'),
    forbid('policy-and-credentials-are-siblings', '^src/policy/', '^src/credentials/',
      'credentials/ and policy/ sit side by side; http/ uses both'),
    forbid('lower-rooms-know-no-domain', '^src/(registry|kube|argocd|config|transport)/', '^src/(credentials|policy)/',
      'registry/, kube/, argocd/ and config/ sit below credentials/ and policy/'),
    forbid('registry-knows-no-siblings', '^src/registry/', '^src/(kube|argocd)/', 'registry/, kube/ and argocd/ are siblings'),
    forbid('kube-knows-no-siblings', '^src/kube/', '^src/(registry|argocd)/', 'registry/, kube/ and argocd/ are siblings'),
    forbid('argocd-knows-no-siblings', '^src/argocd/', '^src/(registry|kube)/', 'registry/, kube/ and argocd/ are siblings'),
    forbid('config-is-a-bottom-room', '^src/config/', '^src/(registry|kube|argocd|transport)/', 'config/ imports only leaf modules'),
    forbid('transport-is-a-bottom-room', '^src/transport/', '^src/(registry|kube|argocd|config)/',
      'transport/ (the one HTTP client) imports only leaf modules'),
    forbid('leaves-are-leaves', '^src/(?!app\\.ts|main\\.ts)[^/]+\\.ts$', `^src/${ROOMS}/`,
      'errors, metrics, cache, logger, own, version are usable from every room and import none'),
    forbid('domain-knows-no-fastify', '^src/(credentials|policy|registry|kube|argocd|config|transport)/',
      '^node_modules/(fastify|fastify-plugin|@fastify/(?!error/))',
      'the domain knows nothing of Fastify (errors.ts is built on @fastify/error, a leaf)'),
    forbid('every-room-is-placed', '^src/', `^src/(?!${ROOMS}/|cli/)[^/]+/`,
      'a new folder under src/ gets its place in the flow above (and in the README) before it is imported'),
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'an import that resolves to nothing',
      from: {},
      to: { couldNotResolve: true }
    }
  ],
  allowed: [],
  options: {
    doNotFollow: { path: 'node_modules' },
    preserveSymlinks: true,
    includeOnly: '^(src/|node_modules/)',
    // type-only imports count: a type imported up is an import up
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings']
    }
  }
};
