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
