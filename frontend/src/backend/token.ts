// The studio's per-start token (app/API.md "Access"). `atoll serve` prints the address to open
// with the token in the fragment (`…/#token=…`), which the browser never sends to a server or in
// a Referer. On first load the page moves it to sessionStorage (this tab only, gone when the tab
// closes) and removes it from the address bar; reloads and in-page navigation find it there.

/** The sessionStorage key that keeps the token. */
export const TOKEN_KEY = 'atoll.token';

type Loc = Pick<Location, 'hash' | 'search' | 'pathname'>;
type Hist = Pick<History, 'replaceState' | 'state'>;

/**
 * Takes the token from the address (`#token=` or, as older versions printed, `?token=`), keeps it
 * in storage and strips it from the address bar; returns the kept token ('' when none).
 */
export function takeToken(loc: Loc = window.location, storage: Storage = window.sessionStorage, hist: Hist = window.history): string {
  const hash = new URLSearchParams(loc.hash.replace(/^#/, ''));
  const query = new URLSearchParams(loc.search);
  const fromURL = hash.get('token') ?? query.get('token');
  if (fromURL !== null) {
    hash.delete('token');
    query.delete('token');
    if (fromURL) storage.setItem(TOKEN_KEY, fromURL);
    const q = query.toString();
    const h = hash.toString();
    hist.replaceState(hist.state, '', loc.pathname + (q ? `?${q}` : '') + (h ? `#${h}` : ''));
  }
  return storage.getItem(TOKEN_KEY) ?? '';
}
