/**
 * Renders an analysis: a human report (public routes with their paths and
 * numbers, then findings by rule with object, numbers and fix) and a JSON
 * document with the same content for machines.
 */
import { label, type Chain, type Hop } from './resilience-paths.js';
import { RULES, handlerBudgets, type AnalysisResult, type Finding, type HandlerBudget, type RuleId, type Severity } from './resilience-rules.js';
import { formatMs } from './resilience-timing.js';

export interface ReportSummary {
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
}

export function summarize(findings: readonly Finding[]): ReportSummary {
  const count = (s: Severity) => findings.filter((f) => f.severity === s).length;
  return { errors: count('error'), warnings: count('warning'), infos: count('info') };
}

interface HopJson {
  readonly service: string;
  readonly route: string | null;
  readonly via: string;
  readonly tries: number;
  readonly appRequests: number;
  readonly worstCaseMs: number | null;
  readonly worstCase: string;
  readonly budgetPerTryMs: number | null;
}

interface BudgetJson {
  readonly handler: string;
  readonly deliveredBy: string;
  readonly budgetPerTryMs: number;
  readonly sequences: readonly {
    readonly name: string;
    readonly totalMs: number;
    readonly calls: readonly { readonly call: string; readonly costMs: number | null; readonly cappedByClientTimeout: boolean }[];
  }[];
}

export interface PublicRouteJson {
  readonly publicRoute: string;
  readonly paths: readonly { readonly hops: readonly HopJson[]; readonly amplification: number; readonly attempts: number }[];
  /** Handlers on the route's path whose call sequences are known, with their cost against the budget. */
  readonly budgets: readonly BudgetJson[];
  readonly findings: readonly number[];
}

export interface ReportJson {
  readonly summary: ReportSummary;
  readonly thresholds: AnalysisResult['thresholds'];
  readonly firstHop: 'gateway' | 'service';
  readonly callGraph: string;
  readonly publicRoutes: readonly PublicRouteJson[];
  readonly findings: readonly (Finding & { readonly id: number })[];
}

/** JSON cannot hold Infinity; an unbounded time is null. */
const finite = (ms: number) => (Number.isFinite(ms) ? ms : null);

function hopJson(result: AnalysisResult, h: Hop): HopJson {
  return {
    service: label(result.model, h.service),
    route: h.route ?? null,
    via: h.viaLabel,
    tries: h.tries,
    appRequests: h.appRequests,
    worstCaseMs: finite(h.worst.ms),
    worstCase: h.worst.explanation,
    budgetPerTryMs: finite(h.budgetMs),
  };
}

function budgetJson(result: AnalysisResult, b: HandlerBudget): BudgetJson {
  return {
    handler: b.handlerName,
    deliveredBy: b.visit.deliveredBy.viaLabel,
    budgetPerTryMs: b.budgetMs,
    sequences: b.sequences.map((s) => ({
      name: s.name,
      totalMs: s.totalMs,
      calls: s.steps.map((st) => ({
        call: `${label(result.model, st.hop.service)} ${st.hop.route ?? '(any route)'}`,
        costMs: finite(st.costMs),
        cappedByClientTimeout: st.cappedByClientTimeout,
      })),
    })),
  };
}

function publicRouteNames(result: AnalysisResult): string[] {
  const names = new Set(result.traversal.chains.map((c) => c.publicRoute));
  for (const f of result.findings) f.publicRoutes.forEach((p) => names.add(p));
  return [...names];
}

export function reportJson(result: AnalysisResult, callGraphSource: string): ReportJson {
  const findings = result.findings.map((f, i) => ({ id: i + 1, ...f }));
  const budgets = handlerBudgets(result.model, result.traversal);
  return {
    summary: summarize(result.findings),
    thresholds: result.thresholds,
    firstHop: result.traversal.entry,
    callGraph: callGraphSource,
    publicRoutes: publicRouteNames(result).map((publicRoute) => ({
      publicRoute,
      paths: result.traversal.chains
        .filter((c) => c.publicRoute === publicRoute)
        .map((c) => ({ hops: c.hops.map((h) => hopJson(result, h)), amplification: c.amplification, attempts: c.attempts })),
      budgets: budgets.filter((b) => b.visit.publicRoutes.includes(publicRoute)).map((b) => budgetJson(result, b)),
      findings: findings.filter((f) => f.publicRoutes.includes(publicRoute)).map((f) => f.id),
    })),
    findings,
  };
}

const MARK: Record<Severity, string> = { error: 'ERROR', warning: 'WARN ', info: 'info ' };

function hopLine(result: AnalysisResult, h: Hop, depth: number): string {
  const budget = Number.isFinite(h.budgetMs) ? `, ${formatMs(h.budgetMs)} per try` : ', no timeout';
  const reach = h.appRequests === h.tries ? `${h.tries} tr${h.tries === 1 ? 'y' : 'ies'}` : `${h.tries} tries, ${h.appRequests} can reach the app`;
  return `${'  '.repeat(depth + 2)}-> ${label(result.model, h.service)} ${h.route ?? '(any route)'}: ${reach}, worst ${formatMs(h.worst.ms)}${budget}  [${h.viaLabel}]`;
}

/** Chains that are not a prefix of another chain: each full path once. */
function fullPaths(chains: readonly Chain[]): Chain[] {
  return chains.filter((c) => !chains.some((o) => o !== c && o.hops.length > c.hops.length && c.hops.every((h, i) => o.hops[i] === h)));
}

export function reportText(result: AnalysisResult, callGraphSource: string): string {
  const json = reportJson(result, callGraphSource);
  const lines: string[] = [];
  const { errors, warnings, infos } = json.summary;
  lines.push(`Resilience analysis — ${errors} error(s), ${warnings} warning(s), ${infos} note(s)`);
  lines.push(
    `call graph: ${callGraphSource}; first hop: ${json.firstHop === 'gateway' ? 'the gateway-bound VirtualService' : 'the service VirtualService (no gateway VirtualService found)'}`,
  );
  lines.push(
    `amplification thresholds: warning above ${result.thresholds.amplificationWarningAbove}, error above ${result.thresholds.amplificationErrorAbove} requests reaching one app per public request`,
  );
  lines.push('');

  lines.push('== By public route ==');
  if (json.publicRoutes.length === 0) lines.push('  (no public routes known: give a call graph with publicRoutes, or a gateway VirtualService)');
  for (const pr of json.publicRoutes) {
    const chains = result.traversal.chains.filter((c) => c.publicRoute === pr.publicRoute);
    const worst = chains.reduce((m, c) => Math.max(m, c.amplification), 0);
    const refs = pr.findings.length > 0 ? `  findings ${pr.findings.map((id) => `#${id}`).join(' ')}` : '';
    lines.push(`  ${pr.publicRoute}  (max amplification ${worst})${refs}`);
    const printed = new Set<Hop>();
    for (const chain of fullPaths(chains)) {
      chain.hops.forEach((h, depth) => {
        if (printed.has(h)) return;
        printed.add(h);
        lines.push(hopLine(result, h, depth));
      });
    }
    for (const b of pr.budgets) {
      const sequences = b.sequences.map((s) => `'${s.name}' ${formatMs(s.totalMs)}${s.totalMs > b.budgetPerTryMs ? ' (over)' : ''}`).join(', ');
      lines.push(`      budget of ${b.handler}: ${formatMs(b.budgetPerTryMs)} per try; calls in sequence: ${sequences}`);
    }
  }
  lines.push('');

  lines.push('== Findings by rule ==');
  if (json.findings.length === 0) lines.push('  none');
  for (const rule of Object.keys(RULES) as RuleId[]) {
    const ruleFindings = json.findings.filter((f) => f.rule === rule);
    if (ruleFindings.length === 0) continue;
    lines.push(`-- ${rule}: ${RULES[rule]}`);
    for (const f of ruleFindings) {
      lines.push(`  #${f.id} ${MARK[f.severity]} ${f.object}`);
      lines.push(`         ${f.message}`);
      const numbers = Object.entries(f.numbers);
      if (numbers.length > 0) lines.push(`         numbers: ${numbers.map(([k, v]) => `${k}=${v}`).join(', ')}`);
      lines.push(`         fix: ${f.fix}`);
    }
  }
  return lines.join('\n');
}
