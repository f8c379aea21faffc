// 42-urlpattern.js — URLPattern (https://urlpattern.spec.whatwg.org/).
// Parsing a pattern and canonicalising a match input are native (Deno's
// `urlpattern` crate, guest-js/src/bridge/urlpattern.rs); matching runs the
// regular expressions it produces through JS `RegExp`, as the standard
// defines them (ECMAScript syntax, the "u" flag, "i" with ignoreCase).
(() => {
  "use strict";

  const pbs = globalThis.__pbs;
  const { exposeClass } = globalThis.__pbsInternal;

  const COMPONENTS = ["protocol", "username", "password", "hostname", "port", "pathname", "search", "hash"];
  const INIT_MEMBERS = [...COMPONENTS, "baseURL"];

  /** A string stays a string; a URLPatternInit becomes the array the bridge takes. */
  function nativeInput(input) {
    if (input === undefined || input === null) input = {};
    if (typeof input !== "object" && typeof input !== "function") return String(input);
    if (input instanceof URL) return String(input);
    return INIT_MEMBERS.map((m) => (input[m] === undefined ? null : String(input[m])));
  }

  function isInit(input) {
    return input === undefined || input === null || (typeof input === "object" && !(input instanceof URL));
  }

  class URLPattern {
    #components; // name -> {pattern, regexp, groups}
    #hasRegExpGroups;

    constructor(input = undefined, baseURL = undefined, options = undefined) {
      if (baseURL !== undefined && baseURL !== null && typeof baseURL === "object") {
        options = baseURL;
        baseURL = undefined;
      }
      if (isInit(input) && baseURL !== undefined) {
        throw new TypeError("URLPattern: a base URL may only be given with a string pattern");
      }
      const ignoreCase = Boolean(options && options.ignoreCase);
      const parsed = pbs.urlPatternParse(nativeInput(input), baseURL === undefined ? undefined : String(baseURL), ignoreCase);
      this.#hasRegExpGroups = parsed[0];
      this.#components = {};
      COMPONENTS.forEach((name, i) => {
        const [pattern, source, groups] = parsed[i + 1];
        let regexp;
        try {
          regexp = new RegExp(`^${source}$`, ignoreCase ? "ui" : "u");
        } catch (err) {
          throw new TypeError(`URLPattern: the ${name} pattern is not a valid regular expression: ${err.message}`);
        }
        this.#components[name] = { pattern, regexp, groups };
      });
    }

    get protocol() {
      return this.#components.protocol.pattern;
    }
    get username() {
      return this.#components.username.pattern;
    }
    get password() {
      return this.#components.password.pattern;
    }
    get hostname() {
      return this.#components.hostname.pattern;
    }
    get port() {
      return this.#components.port.pattern;
    }
    get pathname() {
      return this.#components.pathname.pattern;
    }
    get search() {
      return this.#components.search.pattern;
    }
    get hash() {
      return this.#components.hash.pattern;
    }
    get hasRegExpGroups() {
      return this.#hasRegExpGroups;
    }

    test(input = undefined, baseURL = undefined) {
      return this.#match(input, baseURL) !== null;
    }

    exec(input = undefined, baseURL = undefined) {
      return this.#match(input, baseURL);
    }

    #match(input, baseURL) {
      if (isInit(input) && baseURL !== undefined) {
        throw new TypeError("URLPattern: a base URL may only be given with a string input");
      }
      const base = baseURL === undefined ? undefined : String(baseURL);
      const values = pbs.urlPatternInput(nativeInput(input), base);
      if (values === null) return null;
      const inputs = [isInit(input) ? (input ?? {}) : String(input)];
      if (base !== undefined) inputs.push(base);
      const result = { inputs };
      for (let i = 0; i < COMPONENTS.length; i++) {
        const name = COMPONENTS[i];
        const { regexp, groups } = this.#components[name];
        const match = regexp.exec(values[i]);
        if (match === null) return null;
        const named = {};
        groups.forEach((group, g) => {
          named[group] = match[g + 1];
        });
        result[name] = { input: values[i], groups: named };
      }
      return result;
    }
  }

  exposeClass(URLPattern);
})();
