/**
 * The network an address belongs to, for the referral fraud rule "not when the network already
 * belongs to the referrer or another referred account": an IPv4 address's /24, an IPv6 address's
 * /64 (one home or one phone's prefix). IPv4-mapped IPv6 (`::ffff:a.b.c.d`, how a dual-stack
 * socket reports IPv4 clients) is read as the IPv4 address. Pure string work; PostgreSQL's inet
 * type does the matching.
 */
export interface ClientNetwork {
  /** The CIDR to match stored addresses against. */
  cidr: string;
  /** The same IPv4 network as IPv4-mapped IPv6, since sessions may hold either form; null for IPv6. */
  mappedCidr: string | null;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function networkOf(ip: string | undefined | null): ClientNetwork | null {
  if (!ip) return null;
  const address = ip.replace(/^::ffff:/i, '');
  const v4 = IPV4.exec(address);
  if (v4) {
    const parts = v4.slice(1, 4).map(Number);
    if (parts.some((p) => p > 255) || Number(v4[4]) > 255) return null;
    const base = `${parts.join('.')}.0`;
    return { cidr: `${base}/24`, mappedCidr: `::ffff:${base}/120` };
  }
  const groups = expandIpv6(address);
  if (!groups) return null;
  return { cidr: `${groups.slice(0, 4).join(':')}::/64`, mappedCidr: null };
}

/** The eight groups of an IPv6 address (zone id dropped), or null when it is not one. */
function expandIpv6(address: string): string[] | null {
  const bare = address.split('%')[0]!.toLowerCase();
  if (!/^[0-9a-f:]+$/.test(bare) || !bare.includes(':')) return null;
  const halves = bare.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (groups.some((g) => g.length === 0 || g.length > 4)) return null;
  return groups.map((g) => parseInt(g, 16).toString(16));
}
