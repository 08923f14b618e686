/**
 * The AWS SDK calls a handler can make, read from its code: the static import graph of the
 * project's own modules from the handler's entry, and every SDK command class those modules
 * import. Nothing here is a list kept by hand, so a call added anywhere a handler reaches shows
 * up in the IAM contract without anyone remembering to add it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** One SDK command a module of the handler's graph imports. */
export interface SdkCommandUse {
  /** `@aws-sdk/client-sfn`, `@aws-sdk/lib-dynamodb`, … */
  readonly packageName: string;
  /** The command class, e.g. `StartExecutionCommand` (a paginator counts as its command). */
  readonly command: string;
  /** The module that imports it, relative to the repository root. */
  readonly file: string;
}

export interface SdkCallScan {
  /** Every project module the entry reaches, relative to the repository root. */
  readonly files: readonly string[];
  readonly commands: readonly SdkCommandUse[];
  /** Imports the scan cannot see through: each one hides calls, so the contract fails on it. */
  readonly problems: readonly string[];
}

const SDK_PACKAGE = /^@aws-sdk\/(client-[a-z0-9-]+|lib-dynamodb)$/;

/** Packages that send or presign AWS requests with SDK clients of their own, out of the scan's sight. */
const AWS_CALLING_PACKAGES = [
  '@aws-sdk/lib-storage',
  '@aws-sdk/s3-request-presigner',
  '@aws-lambda-powertools/idempotency',
  '@aws-lambda-powertools/parameters',
  '@middy/s3',
  '@middy/secrets-manager',
  '@middy/ssm',
  '@middy/sts',
];

/** Follows the static imports of `entry` (relative to `root`) and collects the SDK commands. */
export function scanSdkCalls(entry: string, root: string): SdkCallScan {
  const seen = new Set<string>();
  const commands: SdkCommandUse[] = [];
  const problems: string[] = [];
  const pending = [resolve(root, entry)];
  if (!existsSync(pending[0]!)) problems.push(`the entry ${entry} does not exist`);
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (seen.has(path) || !existsSync(path)) continue;
    seen.add(path);
    const file = relative(root, path);
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    for (const use of moduleUses(source)) {
      if (use.specifier.startsWith('.')) {
        const target = resolveProjectModule(dirname(path), use.specifier);
        if (target) pending.push(target);
        else problems.push(`${file} imports ${use.specifier}, which resolves to no .ts file`);
      } else if (SDK_PACKAGE.test(use.specifier)) {
        const names = [...use.names, ...use.namespaces.flatMap((alias) => namespaceMembers(source, alias))];
        for (const name of names) {
          const found = commandOf(use.specifier, name);
          if (found.command) commands.push({ packageName: use.specifier, command: found.command, file });
          if (found.problem) problems.push(`${file}: ${found.problem}`);
        }
      } else if (AWS_CALLING_PACKAGES.some((prefix) => use.specifier.startsWith(prefix))) {
        problems.push(`${file} imports ${use.specifier}, which sends (or presigns) AWS requests itself; the contract cannot see which`);
      }
      // Other packages are not followed: they make no AWS requests of their own.
    }
  }
  return { files: [...seen].map((path) => relative(root, path)).sort(), commands, problems };
}

interface ModuleUse {
  readonly specifier: string;
  /** Value names imported or re-exported (type-only ones left out). */
  readonly names: readonly string[];
  /** Local names of `import * as X` bindings. */
  readonly namespaces: readonly string[];
}

/**
 * The modules a source file loads at run time. With `verbatimModuleSyntax` only `import type`
 * and `export type` disappear from the output; `import { type X }` still loads the module.
 */
function moduleUses(source: ts.SourceFile): ModuleUse[] {
  const uses: ModuleUse[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      if (!clause?.isTypeOnly) {
        const names: string[] = [];
        const namespaces: string[] = [];
        if (clause?.name) names.push('default');
        const bindings = clause?.namedBindings;
        if (bindings && ts.isNamespaceImport(bindings)) namespaces.push(bindings.name.text);
        if (bindings && ts.isNamedImports(bindings)) {
          for (const element of bindings.elements) if (!element.isTypeOnly) names.push((element.propertyName ?? element.name).text);
        }
        uses.push({ specifier: node.moduleSpecifier.text, names, namespaces });
      }
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.isTypeOnly) {
        const names: string[] = [];
        if (node.exportClause && ts.isNamedExports(node.exportClause)) {
          for (const element of node.exportClause.elements)
            if (!element.isTypeOnly) names.push((element.propertyName ?? element.name).text);
        } else {
          names.push('*');
        }
        uses.push({ specifier: node.moduleSpecifier.text, names, namespaces: [] });
      }
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      // A dynamic import of an SDK package hides which commands it uses.
      uses.push({ specifier: node.arguments[0].text, names: ['*'], namespaces: [] });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

/** `X.Name` property accesses on a namespace import's local name. */
function namespaceMembers(source: ts.SourceFile, alias: string): string[] {
  const members = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === alias) {
      members.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...members];
}

/** `./x.js` → `./x.ts` (or `./x/index.ts`), as NodeNext resolution maps the project's sources. */
function resolveProjectModule(fromDirectory: string, specifier: string): string | undefined {
  const base = join(fromDirectory, specifier);
  const stem = base.replace(/\.(m|c)?js$/, '');
  return [`${stem}.ts`, `${stem}.mts`, `${stem}.tsx`, base, join(base, 'index.ts')].find(
    (candidate) => candidate.endsWith('ts') && existsSync(candidate),
  );
}

const requireFromHere = createRequire(import.meta.url);
const packageExports = new Map<string, Record<string, unknown>>();

/**
 * What one imported name of an SDK package means for the contract: a command (or a paginator,
 * which sends its command), nothing (clients, exceptions, types), or a problem when the name
 * sends requests the scan cannot name (aggregated clients, waiters, a whole-module import).
 */
function commandOf(packageName: string, name: string): { command?: string; problem?: string } {
  if (name === '*' || name === 'default') {
    return {
      problem: `uses all of ${packageName} (export *, default or dynamic import), so its commands are not visible; import the command classes by name`,
    };
  }
  if (/^[A-Z]\w*Command$/.test(name)) return { command: name };
  const paginated = /^paginate([A-Z]\w*)$/.exec(name);
  if (paginated) return { command: `${paginated[1]}Command` };
  if (/^waitUntil[A-Z]/.test(name)) {
    return {
      problem: `uses the waiter ${name} of ${packageName}, whose polling commands are not visible; poll with the command classes instead`,
    };
  }
  if (/(Client|Exception|Error)$/.test(name) || !/^[A-Z]/.test(name)) return {};
  let exports = packageExports.get(packageName);
  if (!exports) {
    exports = requireFromHere(packageName) as Record<string, unknown>;
    packageExports.set(packageName, exports);
  }
  // The aggregated client (SFN, DynamoDBDocument …) has a method per operation: its calls are invisible here.
  if (typeof exports[`${name}Client`] === 'function') {
    return {
      problem: `uses the aggregated client ${name} of ${packageName}, whose calls are not visible; send command classes with ${name}Client instead`,
    };
  }
  return {};
}

/** IAM service prefix of each SDK package; a package missing here fails the contract by name. */
export const IAM_PREFIX_OF_PACKAGE: Readonly<Record<string, string>> = {
  '@aws-sdk/client-batch': 'batch',
  '@aws-sdk/client-cloudwatch': 'cloudwatch',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/lib-dynamodb': 'dynamodb',
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-ecs': 'ecs',
  '@aws-sdk/client-eventbridge': 'events',
  '@aws-sdk/client-iam': 'iam',
  '@aws-sdk/client-lambda': 'lambda',
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/client-service-quotas': 'servicequotas',
  '@aws-sdk/client-sfn': 'states',
  '@aws-sdk/client-sns': 'sns',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-sts': 'sts',
};

/**
 * Commands whose IAM actions are not `<prefix>:<command without "Command">`: the document
 * client's commands are named after DynamoDB's operations without "Item", and a transaction is
 * authorized as the item actions it contains:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
 */
const ACTIONS_OF_COMMAND: Readonly<Record<string, readonly string[]>> = {
  '@aws-sdk/lib-dynamodb GetCommand': ['dynamodb:GetItem'],
  '@aws-sdk/lib-dynamodb PutCommand': ['dynamodb:PutItem'],
  '@aws-sdk/lib-dynamodb UpdateCommand': ['dynamodb:UpdateItem'],
  '@aws-sdk/lib-dynamodb DeleteCommand': ['dynamodb:DeleteItem'],
  '@aws-sdk/lib-dynamodb BatchGetCommand': ['dynamodb:BatchGetItem'],
  '@aws-sdk/lib-dynamodb BatchWriteCommand': ['dynamodb:BatchWriteItem'],
  '@aws-sdk/lib-dynamodb TransactGetCommand': ['dynamodb:GetItem'],
  '@aws-sdk/lib-dynamodb TransactWriteCommand': [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:ConditionCheckItem',
  ],
  '@aws-sdk/client-dynamodb TransactGetItemsCommand': ['dynamodb:GetItem'],
  '@aws-sdk/client-dynamodb TransactWriteItemsCommand': [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:ConditionCheckItem',
  ],
};

/** The IAM actions one command is authorized as; throws naming the package when its prefix is unknown. */
export function iamActionsOf(use: Pick<SdkCommandUse, 'packageName' | 'command'>): readonly string[] {
  const mapped = ACTIONS_OF_COMMAND[`${use.packageName} ${use.command}`];
  if (mapped) return mapped;
  const prefix = IAM_PREFIX_OF_PACKAGE[use.packageName];
  if (!prefix) {
    throw new Error(`${use.command} comes from ${use.packageName}, whose IAM service prefix IAM_PREFIX_OF_PACKAGE does not know.`);
  }
  return [`${prefix}:${use.command.replace(/Command$/, '')}`];
}
