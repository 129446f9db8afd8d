import { afterEach, describe, expect, it, vi } from "vitest";
import { createSession, ensureOwner, listVoiceProfiles } from "./api";
import { loadOwner, saveOwner } from "./storage";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A server that hands out owners `o1`, `o2`, ... and answers other paths from `answer`. */
function server(answer: (path: string, auth: string | null) => Response) {
  let owners = 0;
  const fetch = vi.fn(async (path: string, init: RequestInit = {}) => {
    if (path === "/api/v1/owners") {
      owners += 1;
      return json({ owner_id: `o${owners}`, owner_token: `o${owners}.mac` }, 201);
    }
    return answer(path, new Headers(init.headers).get("authorization"));
  });
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("the owner credential", () => {
  it("is asked for once, kept, and sent with every request", async () => {
    const fetch = server((_, auth) => (auth === "Bearer o1.mac" ? json([]) : json({ detail: { code: "UNAUTHORIZED", message: "no" } }, 401)));
    await Promise.all([listVoiceProfiles(), listVoiceProfiles()]);
    await listVoiceProfiles();
    expect(fetch.mock.calls.filter(([path]) => path === "/api/v1/owners")).toHaveLength(1);
    expect(loadOwner()).toEqual({ owner_id: "o1", owner_token: "o1.mac" });
    expect(fetch).toHaveBeenCalledTimes(4);
  });

  it("a stored credential is used as is", async () => {
    saveOwner({ owner_id: "kept", owner_token: "kept.mac" });
    const fetch = server((_, auth) => json({ session_id: "s", token: "t", auth }, 201));
    expect(await createSession()).toMatchObject({ session_id: "s", auth: "Bearer kept.mac" });
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(await ensureOwner()).toEqual({ owner_id: "kept", owner_token: "kept.mac" });
  });

  it("one the server no longer accepts is replaced once, then the error shows", async () => {
    saveOwner({ owner_id: "old", owner_token: "old.mac" });
    server((_, auth) => (auth === "Bearer o1.mac" ? json([]) : json({ detail: { code: "UNAUTHORIZED", message: "no" } }, 401)));
    expect(await listVoiceProfiles()).toEqual([]);
    expect(loadOwner()?.owner_id).toBe("o1");

    server(() => json({ detail: { code: "UNAUTHORIZED", message: "憑證無效" } }, 401));
    await expect(listVoiceProfiles()).rejects.toMatchObject({ status: 401, message: "憑證無效" });
  });
});
