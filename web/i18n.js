// Russian (default) and English. The choice is remembered in this browser. The texts
// live in i18n-ru.js and i18n-en.js.

import RU from "./i18n-ru.js";
import EN from "./i18n-en.js";

/** Russian unless this browser chose English with the switch. */
export const lang = localStorage.getItem("dialogi.lang") === "en" ? "en" : "ru";
document.documentElement.lang = lang;

/** The text for `key` in the chosen language, with `{name}` placeholders filled. */
export function t(key, vars = {}) {
  const text = (lang === "en" ? EN : RU)[key] || RU[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? ""));
}

/** Whether `key` has a text (in either language). */
export function has(key) {
  return key in RU || key in EN;
}

export function switchLanguage() {
  localStorage.setItem("dialogi.lang", lang === "en" ? "ru" : "en");
  location.reload();
}
