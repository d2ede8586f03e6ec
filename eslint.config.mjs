import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries between the layers (see README "Layout"). Each layer gets one
// no-restricted-imports setting (a later flat-config block replaces an earlier one, it does not
// merge), built from the rules below. Imports are matched as written: a relative path that
// climbs out of its folder and names a top-level folder (`../../db/live/...`).
const topLevel = ['activities', 'api', 'bench', 'config', 'db', 'domain', 'platform', 'realtime', 'scripts', 'services', 'test', 'workers', 'workflows'];
/** A relative import reaching into one of `targets` (top-level folders, or paths under them). */
const into = (...targets) => `^(\\.\\./)+(${targets.join('|')})(/|$)`;
/** Any bare (package or Node built-in) import except `allowed` packages and their subpaths. */
const packagesExcept = (...allowed) => `^(?!\\.{1,2}/)(?!(${allowed.map((a) => a.replace(/[./]/g, '\\$&')).join('|')})(/|$))`;
const restrict = (...patterns) => ({ '@typescript-eslint/no-restricted-imports': ['error', { patterns }] });

// What workflow code and the pure domain rules it imports must never touch: Node built-ins and
// I/O libraries break determinism or the sandbox. Side effects belong in activities.
const DOMAIN_ONLY = 'Domain code imports only domain modules and the pure libraries zod and luxon.';
const domainPackages = ['zod', 'luxon'];
const domainRules = (extraPackages = []) =>
  restrict(
    { regex: packagesExcept(...domainPackages, ...extraPackages), message: DOMAIN_ONLY },
    { regex: into(...topLevel.filter((l) => l !== 'domain')), message: DOMAIN_ONLY },
  );
const WORKFLOW_ONLY = 'Workflow code imports only @temporalio/workflow, domain rules and other workflow code (types from activities); side effects belong in activities.';
const workflowRules = restrict(
  { regex: packagesExcept('@temporalio/workflow'), message: WORKFLOW_ONLY },
  { regex: into('activities'), allowTypeImports: true, message: WORKFLOW_ONLY },
  { regex: into(...topLevel.filter((l) => !['domain', 'workflows', 'activities'].includes(l))), message: WORKFLOW_ONLY },
);
const notFrom = (layer, targets, why) => ({ regex: into(...targets), message: `${layer} may not import ${targets.join(', ')}: ${why}` });
const layerRules = {
  activities: restrict(notFrom('activities', ['api', 'realtime'], 'the edges call into the worker through Temporal, never the other way round.')),
  // Shared by the API and the realtime edge, so neither edge. (Workflow definitions are fine:
  // a service starts and signals flows.)
  services: restrict(notFrom('services', ['api', 'realtime'], 'services are shared by the API and the realtime edge.')),
  db: restrict(notFrom('db', ['api', 'realtime', 'services', 'activities', 'workflows'], 'storage sits below everything that uses it.')),
  platform: restrict(notFrom('platform', ['api', 'realtime', 'services', 'db/repositories', 'activities', 'workflows'], 'platform code is infrastructure every layer may use.')),
  api: restrict(
    notFrom('api', ['realtime'], 'the edges are independent processes.'),
    notFrom('api', ['db/live'], 'room live state goes through services/.'),
  ),
  realtime: restrict(
    notFrom('realtime', ['api'], 'the edges are independent processes.'),
    // Types may name a store's shapes; values (the stores themselves) come from services/.
    { ...notFrom('realtime', ['db'], 'the realtime edge reaches PostgreSQL and live state through services/, as the API does.'), allowTypeImports: true },
  ),
  config: restrict(notFrom('config', topLevel.filter((l) => l !== 'config'), 'configuration is read by every layer.')),
};
// Files allowed one import their layer otherwise refuses, named one by one with that import.
// Every other rule of the layer still applies to them.
const exceptions = [
  // Search-attribute keys are defined with @temporalio/common's pure helper.
  { files: ['domain/flows.ts'], rules: domainRules(['@temporalio/common']) },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'test-results/**', '.data/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'no-console': ['error', { allow: ['error', 'warn'] }],
    },
  },
  { files: ['domain/**/*.ts'], rules: domainRules() },
  { files: ['workflows/**/*.ts'], rules: workflowRules },
  ...Object.entries(layerRules).map(([layer, rules]) => ({ files: [`${layer}/**/*.ts`], rules })),
  ...exceptions,
  { files: ['scripts/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'], rules: { 'no-console': 'off' } },
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
