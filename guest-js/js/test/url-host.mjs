// The fake host's `__pbs.urlParse` / `urlSet` / `requestHref`: the real host runs the `url`
// crate (guest-js/src/bridge/url.rs); Node's URL implements the same standard.

const parts = (u) => [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash];

export function nodeUrlParse(input, base) {
  try {
    return parts(base === undefined ? new URL(input) : new URL(input, base));
  } catch {
    return null;
  }
}

export function nodeUrlSet(href, which, value) {
  const url = new URL(href);
  url[which] = value;
  return parts(url);
}

/** `__pbs.requestHref`: the href, `null` for no URL, `false` with credentials. */
export function nodeRequestHref(input) {
  let url;
  try {
    url = new URL(input);
  } catch {
    return null;
  }
  return url.username !== "" || url.password !== "" ? false : url.href;
}
