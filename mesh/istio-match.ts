/** Istio string match: exact, `prefix*`, `*suffix`, `*`, and Envoy URI templates with `{*}` / `{**}`. */
export function matchesValue(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.includes('{*}') || pattern.includes('{**}')) {
    const regex = pattern
      .split(/(\{\*\*\}|\{\*\})/)
      .map((part) => (part === '{*}' ? '[^/]+' : part === '{**}' ? '.+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
      .join('');
    return new RegExp(`^${regex}$`).test(value);
  }
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

/**
 * The one matcher of a `{param}` path template, as the mesh enforces it (Istio `uri.regex`, RE2,
 * anchored): case-sensitive, no trailing slash, each `{param}` one non-empty segment, matched
 * against the raw path (percent-escapes, `%2F` included, are not decoded first). The services'
 * routers use it too (apps/kit/http-app.ts), so an app never serves a path its sidecar refuses.
 */
export function pathTemplateRegex(template: string): string {
  const escaped = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('');
  return `^${escaped}$`;
}
