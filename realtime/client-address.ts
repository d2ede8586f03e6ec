/**
 * The client's address as the API takes it (Koa with `proxy` and `maxIpsCount`): with N trusted
 * proxies in front, the N right-most X-Forwarded-For entries were written by them, and the
 * left-most of those is the client; with none, the header is the client's own and is ignored.
 */
export function clientAddress(peer: string, forwardedFor: string, trustedProxies: number): string {
  if (trustedProxies <= 0 || !forwardedFor) return peer;
  const hops = forwardedFor
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .slice(-trustedProxies);
  return hops[0] ?? peer;
}
