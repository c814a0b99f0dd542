/** Whether `labels` carry every label of `selector` (Kubernetes matchLabels; an absent selector selects everything). */
export function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}
