/**
 * Generates packages/meshkit/API.md, the API reference of the construct library, from the
 * TSDoc comments of everything the public entry point (constructs/index.ts) exports, with
 * the TypeScript compiler API: constructs, other classes, props interfaces (with @default),
 * functions, constants and types. `npm run api` writes it; test/package/api-reference.test.ts
 * fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../infra/cache.js';

export const apiReferencePath = join(repoRoot, 'packages', 'meshkit', 'API.md');
const entry = join(repoRoot, 'constructs', 'index.ts');

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
const cell = (text: string) => oneLine(text).replace(/\|/g, '\\|');

function isPublic(member: ts.ClassElement | ts.TypeElement): boolean {
  const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
  if (modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword)) return false;
  const name = member.name?.getText() ?? '';
  return !name.startsWith('_') && !name.startsWith('#');
}

const isStatic = (member: ts.ClassElement) => (ts.getModifiers(member as ts.HasModifiers) ?? []).some((m) => m.kind === ts.SyntaxKind.StaticKeyword);

export function renderApiReference(): string {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;

  const docOf = (symbol: ts.Symbol) => ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  const tagsOf = (symbol: ts.Symbol, name: string) =>
    symbol
      .getJsDocTags(checker)
      .filter((t) => t.name === name)
      .map((t) => ts.displayPartsToString(t.text).trim());
  const summaryOf = (symbol: ts.Symbol | undefined) => (symbol ? oneLine(docOf(symbol).split(/\n\s*\n/)[0] ?? '') : '');
  const typeText = (node: ts.Node | undefined, fallback: ts.Node) =>
    oneLine(node ? node.getText() : checker.typeToString(checker.getTypeAtLocation(fallback), undefined, ts.TypeFormatFlags.NoTruncation));
  const params = (decl: ts.SignatureDeclaration) => decl.parameters.map((p) => oneLine(p.getText())).join(', ');
  const examples = (symbol: ts.Symbol) => tagsOf(symbol, 'example').map((e) => '```ts\n' + e.replace(/^```\w*\n?|```$/g, '').trim() + '\n```\n');

  const isConstruct = (decl: ts.ClassDeclaration): boolean => {
    let type: ts.Type | undefined = checker.getTypeAtLocation(decl);
    while (type) {
      if (type.getSymbol()?.getName() === 'Construct') return true;
      type = (type as ts.InterfaceType).isClassOrInterface?.() ? checker.getBaseTypes(type as ts.InterfaceType)[0] : undefined;
    }
    return false;
  };

  const exported = checker
    .getExportsOfModule(moduleSymbol)
    .map((s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s))
    .sort((a, b) => a.getName().localeCompare(b.getName()));

  const constructs: string[] = [];
  const classes: string[] = [];
  const interfaces: string[] = [];
  const functions: string[] = [];
  const values: string[] = [];
  const types: string[] = [];

  for (const symbol of exported) {
    const decl = symbol.declarations?.[0];
    if (!decl) continue;
    const name = symbol.getName();
    const doc = docOf(symbol);
    if (ts.isClassDeclaration(decl)) {
      const out = [`### ${name}\n`, doc ? `${doc}\n` : '', ...examples(symbol)];
      const heritage = decl.heritageClauses?.map((h) => oneLine(h.getText())).join(' ');
      const ctor = decl.members.find((m): m is ts.ConstructorDeclaration => ts.isConstructorDeclaration(m) && isPublic(m));
      if (ctor) out.push(`\`new ${name}(${params(ctor)})\`${heritage ? ` — ${heritage}` : ''}\n`);
      else if (heritage) out.push(`${heritage}\n`);
      const rows: string[] = [];
      const seen = new Set<string>();
      for (const member of decl.members) {
        if (!isPublic(member) || ts.isConstructorDeclaration(member) || !member.name) continue;
        const memberName = member.name.getText();
        const memberSymbol = checker.getSymbolAtLocation(member.name);
        const prefix = isStatic(member) ? `static ${memberName}` : memberName;
        if (seen.has(prefix)) continue;
        seen.add(prefix);
        let signature: string;
        if (ts.isMethodDeclaration(member)) signature = `${prefix}(${params(member)}): ${typeText(member.type, member)}`;
        else if (ts.isGetAccessorDeclaration(member)) signature = `${prefix}: ${typeText(member.type, member)}`;
        else if (ts.isPropertyDeclaration(member)) signature = `${prefix}: ${typeText(member.type, member)}`;
        else continue;
        rows.push(`| \`${cell(signature)}\` | ${cell(summaryOf(memberSymbol))} |`);
      }
      // Constructor parameter properties (`constructor(readonly kind: ...)`) are members too, unless private.
      for (const p of decl.members.filter(ts.isConstructorDeclaration).flatMap((c) => [...c.parameters])) {
        const modifiers = ts.getModifiers(p) ?? [];
        if (!modifiers.some((m) => m.kind === ts.SyntaxKind.ReadonlyKeyword || m.kind === ts.SyntaxKind.PublicKeyword)) continue;
        if (modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword)) continue;
        rows.push(`| \`${cell(`${p.name.getText()}: ${typeText(p.type, p)}`)}\` | ${cell(summaryOf(checker.getSymbolAtLocation(p.name)))} |`);
      }
      if (rows.length > 0) out.push('| member | description |\n|---|---|\n' + rows.join('\n') + '\n');
      (isConstruct(decl) ? constructs : classes).push(out.filter(Boolean).join('\n'));
    } else if (ts.isInterfaceDeclaration(decl)) {
      const heritage = decl.heritageClauses?.map((h) => oneLine(h.getText())).join(' ');
      const out = [`### ${name}\n`, doc ? `${doc}\n` : '', heritage ? `${heritage}\n` : ''];
      const rows = decl.members.filter(ts.isPropertySignature).map((m) => {
        const memberSymbol = checker.getSymbolAtLocation(m.name)!;
        const def = tagsOf(memberSymbol, 'default')[0];
        return `| \`${cell(m.name.getText())}${m.questionToken ? '?' : ''}\` | \`${cell(typeText(m.type, m))}\` | ${def ? cell(def) : m.questionToken ? '' : '*required*'} | ${cell(docOf(memberSymbol))} |`;
      });
      for (const m of decl.members.filter(ts.isMethodSignature)) {
        rows.push(
          `| \`${cell(`${m.name.getText()}(${params(m)})`)}\` | \`${cell(typeText(m.type, m))}\` | | ${cell(docOf(checker.getSymbolAtLocation(m.name)!))} |`,
        );
      }
      if (rows.length > 0) out.push('| field | type | default | description |\n|---|---|---|---|\n' + rows.join('\n') + '\n');
      interfaces.push(out.filter(Boolean).join('\n'));
    } else if (ts.isFunctionDeclaration(decl)) {
      functions.push(`### ${name}\n\n\`${cell(`${name}(${params(decl)}): ${typeText(decl.type, decl)}`)}\`\n${doc ? `\n${doc}\n` : ''}`);
    } else if (ts.isVariableDeclaration(decl)) {
      values.push(`### ${name}\n\n${doc ? `${doc}\n\n` : ''}\`\`\`ts\nconst ${name}: ${typeText(decl.type, decl)}\n\`\`\`\n`);
    } else if (ts.isTypeAliasDeclaration(decl)) {
      types.push(`### ${name}\n\n${doc ? `${doc}\n\n` : ''}\`\`\`ts\ntype ${name} = ${oneLine(decl.type.getText())}\n\`\`\`\n`);
    }
  }

  const section = (title: string, items: string[]) => (items.length > 0 ? [`## ${title}\n`, ...items] : []);
  return [
    '# meshkit API reference\n',
    'Generated by `npm run api` (scripts/generate-api-reference.ts) from the TSDoc comments of everything',
    "`import { ... } from 'meshkit'` offers; do not edit by hand: a test fails when it is out of date.",
    'Usage and runnable examples: [README.md](README.md).\n',
    ...section('Constructs', constructs),
    ...section('Classes', classes),
    ...section('Props and other interfaces', interfaces),
    ...section('Functions', functions),
    ...section('Constants', values),
    ...section('Types', types),
  ]
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()
    .concat('\n');
}

if (process.argv[1]?.endsWith('generate-api-reference.ts')) {
  writeFileSync(apiReferencePath, renderApiReference());
  console.log(`wrote ${apiReferencePath}`);
}
