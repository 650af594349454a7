// The client's routes, on the History API: the Worker answers every such path with index.html.
import { writable, type Readable } from "svelte/store";

export type Route =
  | { name: "signin" }
  // `link` is the token of `anchor login`'s link; `code` a code someone put in the URL.
  | { name: "device"; code: string; link: string }
  | { name: "home" }
  | { name: "thread"; anchorId: string; threadId: string }
  | { name: "files"; anchorId: string; path: string }
  | { name: "settings" }
  | { name: "notFound" };

/** The route of a location (pathname and search). */
export function parseRoute(pathname: string, search: string): Route {
  const q = new URLSearchParams(search);
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
      return { name: "home" };
    case "signin":
      return { name: "signin" };
    case "device":
      return { name: "device", code: (q.get("code") ?? "").toUpperCase(), link: q.get("link") ?? "" };
    case "settings":
      return { name: "settings" };
    case "thread":
      if (parts[1] && parts[2]) return { name: "thread", anchorId: parts[1], threadId: parts[2] };
      break;
    case "files":
      if (parts[1]) return { name: "files", anchorId: parts[1], path: q.get("path") ?? "" };
      break;
  }
  return { name: "notFound" };
}

/** The path of a route. */
export function href(route: Route): string {
  const e = encodeURIComponent;
  switch (route.name) {
    case "home":
      return "/";
    case "signin":
      return "/signin";
    case "device":
      if (route.link) return `/device?link=${e(route.link)}`;
      return route.code ? `/device?code=${e(route.code)}` : "/device";
    case "settings":
      return "/settings";
    case "thread":
      return `/thread/${e(route.anchorId)}/${e(route.threadId)}`;
    case "files":
      return `/files/${e(route.anchorId)}${route.path ? `?path=${e(route.path)}` : ""}`;
    case "notFound":
      return "/";
  }
}

const current = writable<Route>(
  typeof window === "undefined" ? { name: "home" } : parseRoute(location.pathname, location.search),
);
export const route: Readable<Route> = { subscribe: current.subscribe };

/** Goes to a route (a new history entry unless `replace`). */
export function navigate(to: Route | string, replace = false): void {
  const path = typeof to === "string" ? to : href(to);
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  current.set(parseRoute(location.pathname, location.search));
  window.scrollTo(0, 0);
}

if (typeof window !== "undefined") {
  window.addEventListener("popstate", () => current.set(parseRoute(location.pathname, location.search)));
  // Links inside the app navigate without reloading it.
  document.addEventListener("click", (event) => {
    const a = (event.target as Element | null)?.closest?.("a");
    if (!a || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || a.target || a.hasAttribute("download")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
