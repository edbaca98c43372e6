// Which proxy an outbound request takes: HTTPS_PROXY / HTTP_PROXY / NO_PROXY as Go's
// golang.org/x/net/http/httpproxy reads them (docs/configuration.md "Proxies"), with one
// difference: loopback addresses are not skipped implicitly (Go never proxies `localhost`,
// 127.0.0.0/8 or ::1); list them in NO_PROXY, as the chart's default does. Imports nothing of
// the project.
import { BlockList, isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** HTTPS_PROXY, HTTP_PROXY and NO_PROXY as settings read them (src/config/settings.ts). */
export interface ProxyEnv {
  httpsProxy?: string
  httpProxy?: string
  noProxy?: string
}

const PROXY_SCHEMES = new Set(['http:', 'https:', 'socks5:', 'socks:']);

/**
 * A proxy address as a URL; without a scheme it is http (`proxy.corp:3128`), as in Go and curl.
 * Throws an Error whose message names the address without its user info.
 */
export function parseProxyUrl (text: string): URL {
  let url: URL | undefined;
  try { url = new URL(text); } catch { url = undefined; }
  // `host:3128` parses as scheme `host:`; `host` alone does not parse
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && (url === undefined || url.host === '' || !PROXY_SCHEMES.has(url.protocol))) {
    try { url = new URL(`http://${text}`); } catch { url = undefined; }
  }
  if (url === undefined || url.host === '' || !PROXY_SCHEMES.has(url.protocol)) {
    throw new Error('must be an http://, https:// or socks5:// proxy address such as http://proxy.example.com:3128');
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new Error(`${redactProxyUrl(url)}: a proxy address has no path, query or fragment`);
  }
  return url;
}

/** A proxy URL for messages and logs: scheme, host and port, never the user info. */
export function redactProxyUrl (url: URL | string): string {
  let u: URL;
  try { u = typeof url === 'string' ? new URL(url) : url; } catch { return '(an unparsable proxy address)'; }
  return `${u.protocol}//${u.host}`;
}

/** host[:port] of a proxy for error messages: never the user info. */
export function proxyHostOf (url: string): string {
  try { return new URL(url).host; } catch { return '(proxy)'; }
}

interface DomainRule { suffix: string, port: string, matchHost: boolean }
interface IpRule { ip: string, family: 'ipv4' | 'ipv6', port: string }

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** A NO_PROXY list, parsed once: `*`, hosts and domains (with subdomains), `.suffix`, `*.suffix`, host:port, IPs, [IPv6]:port and CIDRs. */
export class NoProxy {
  readonly all: boolean = false;
  private readonly domains: DomainRule[] = [];
  private readonly ips: IpRule[] = [];
  private readonly cidrs = new BlockList();
  private cidrCount = 0;

  constructor (list: string | undefined) {
    for (const raw of (list ?? '').split(',')) {
      const p = raw.trim().toLowerCase();
      if (p === '') continue;
      if (p === '*') { this.all = true; return; }
      const slash = p.indexOf('/');
      if (slash !== -1) {
        const net = p.slice(0, slash);
        const bits = Number(p.slice(slash + 1));
        const family = isIP(net);
        if (family !== 0 && /^\d{1,3}$/.test(p.slice(slash + 1)) && bits <= (family === 4 ? 32 : 128)) {
          this.cidrs.addSubnet(net, bits, family === 4 ? 'ipv4' : 'ipv6');
          this.cidrCount++;
        }
        continue; // a malformed CIDR is ignored, as Go ignores it
      }
      let host = p;
      let port = '';
      const bracket = /^\[([^\]]*)\](?::(\d*))?$/.exec(p);
      if (bracket !== null) {
        host = bracket[1] ?? '';
        port = bracket[2] ?? '';
      } else if (isIP(p) === 0) {
        // host:port (an IPv6 address without brackets has several colons and no port)
        const colon = p.lastIndexOf(':');
        if (colon !== -1 && p.indexOf(':') === colon) {
          host = p.slice(0, colon);
          port = p.slice(colon + 1);
        }
      }
      if (host === '') continue; // `:1` and the like: no host part, ignored
      const family = isIP(host);
      if (family !== 0) {
        this.ips.push({ ip: canonicalIp(host), family: family === 4 ? 'ipv4' : 'ipv6', port });
        continue;
      }
      if (host.startsWith('*.')) host = host.slice(1);
      const matchHost = !host.startsWith('.');
      const dotted = matchHost ? `.${host}` : host;
      this.domains.push({ suffix: domainToASCII(dotted.slice(1)) !== '' ? `.${domainToASCII(dotted.slice(1))}` : dotted, port, matchHost });
    }
  }

  /** Whether a request to `url` goes direct. */
  matches (url: URL): boolean {
    if (this.all) return true;
    let host = url.hostname.toLowerCase();
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    const port = url.port !== '' ? url.port : (DEFAULT_PORT[url.protocol] ?? '');
    const family = isIP(host);
    if (family !== 0) {
      const ip = canonicalIp(host);
      const fam = family === 4 ? 'ipv4' : 'ipv6';
      for (const r of this.ips) if (r.family === fam && r.ip === ip && (r.port === '' || r.port === port)) return true;
      return this.cidrCount > 0 && this.cidrs.check(host, fam);
    }
    for (const r of this.domains) {
      if (host.endsWith(r.suffix) || (r.matchHost && host === r.suffix.slice(1))) {
        if (r.port === '' || r.port === port) return true;
      }
    }
    return false;
  }
}

function canonicalIp (ip: string): string {
  if (isIP(ip) !== 6) return ip;
  try { return new URL(`http://[${ip}]/`).hostname.slice(1, -1); } catch { return ip; }
}

/** The proxy rule of a transport profile, parsed once. */
export class ProxyRule {
  private readonly https?: string;
  private readonly http?: string;
  readonly noProxy: NoProxy;

  /** Throws an Error naming the bad variable (never its user info). */
  constructor (env: ProxyEnv) {
    const parse = (name: string, v: string | undefined): string | undefined => {
      if (v === undefined) return undefined;
      try { return parseProxyUrl(v).href.replace(/\/$/, ''); } catch (err) { throw new Error(`${name}: ${(err as Error).message}`); }
    };
    const https = parse('HTTPS_PROXY', env.httpsProxy);
    const http = parse('HTTP_PROXY', env.httpProxy);
    if (https !== undefined) this.https = https;
    if (http !== undefined) this.http = http;
    this.noProxy = new NoProxy(env.noProxy);
  }

  get empty (): boolean {
    return this.https === undefined && this.http === undefined;
  }

  /** The proxy URL for a request to `url`, or undefined to go direct (HTTPS_PROXY for https, HTTP_PROXY for http). */
  proxyFor (url: URL): string | undefined {
    const proxy = url.protocol === 'https:' ? this.https : url.protocol === 'http:' ? this.http : undefined;
    if (proxy === undefined || this.noProxy.matches(url)) return undefined;
    return proxy;
  }
}
