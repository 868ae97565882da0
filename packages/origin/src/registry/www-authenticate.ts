/** One challenge of a `WWW-Authenticate` header: its scheme (lower case) and parameters. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses `WWW-Authenticate` values (RFC 7235): one or more challenges, each a scheme and
 * comma-separated `name=value` or `name="quoted value"` parameters, e.g.
 * `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"`
 * or `Basic realm="Registry Realm"`. Parameter names are lower-cased; unparseable input
 * yields what could be read.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const challenges: AuthChallenge[] = [];
  for (const value of values) {
    let i = 0;
    let current: AuthChallenge | undefined;
    const skip = (re: RegExp) => {
      while (i < value.length && re.test(value[i]!)) i++;
    };
    while (i < value.length) {
      skip(/[\s,]/);
      const tokenStart = i;
      skip(/[^\s,=]/);
      const token = value.slice(tokenStart, i);
      if (!token) break;
      skip(/\s/);
      if (value[i] === '=' && current) {
        i++;
        skip(/\s/);
        let param = '';
        if (value[i] === '"') {
          i++;
          while (i < value.length && value[i] !== '"') {
            if (value[i] === '\\' && i + 1 < value.length) i++;
            param += value[i];
            i++;
          }
          i++;
        } else {
          const start = i;
          skip(/[^\s,]/);
          param = value.slice(start, i);
        }
        current.params[token.toLowerCase()] = param;
      } else if (value[i] === '=') {
        // A parameter before any scheme: malformed; skip its value.
        i++;
        skip(/[^,]/);
      } else {
        current = { scheme: token.toLowerCase(), params: {} };
        challenges.push(current);
      }
    }
  }
  return challenges;
}
