/**
 * `just now`, `5 min ago`, `3 h ago`, `2 d ago`. No imports, so the page script can share it with
 * the server's rendering once the script is compiled from TypeScript.
 */
export function ago(iso: string, now: number): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 0) return 'in the future';
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
