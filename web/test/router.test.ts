import { describe, expect, it } from "vitest";

import { href, parseRoute, type Route } from "../src/lib/router";

describe("routes", () => {
  it("reads every screen's URL and writes it back", () => {
    const cases: [string, string, Route][] = [
      ["/", "", { name: "home" }],
      ["/signin", "", { name: "signin" }],
      ["/device", "?code=bcdf-ghjk", { name: "device", code: "BCDF-GHJK", link: "" }],
      ["/device", "?link=Ab_-9", { name: "device", code: "", link: "Ab_-9" }],
      ["/device", "", { name: "device", code: "", link: "" }],
      ["/settings", "", { name: "settings" }],
      ["/thread/a%201/t%2F2", "", { name: "thread", anchorId: "a 1", threadId: "t/2" }],
      ["/files/a1", "?path=%2Fhome%2Fada", { name: "files", anchorId: "a1", path: "/home/ada" }],
    ];
    for (const [path, search, route] of cases) {
      expect(parseRoute(path, search)).toEqual(route);
      const back = new URL(href(route), "http://x");
      expect(parseRoute(back.pathname, back.search)).toEqual(route);
    }
    expect(parseRoute("/nope", "")).toEqual({ name: "notFound" });
    expect(parseRoute("/thread/only-anchor", "")).toEqual({ name: "notFound" });
  });
});
