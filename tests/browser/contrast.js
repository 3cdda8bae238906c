() => {
  // WCAG 2.x contrast of every visible text against its effective background, from the rendered
  // (computed) colours: the text colour (times the opacity of its ancestors) over the first
  // non-transparent background-color up the tree, blended down to the page's canvas.
  function parse(value) {
    const m = value.match(/rgba?\(([\d.]+)[, ]+([\d.]+)[, ]+([\d.]+)(?:[,/ ]+([\d.]+%?))?\)/);
    if (!m) return null;
    let a = m[4] === undefined ? 1 : parseFloat(m[4]);
    if (m[4] && m[4].endsWith("%")) a /= 100;
    return { r: +m[1], g: +m[2], b: +m[3], a };
  }
  function over(top, bottom) {
    const a = top.a + bottom.a * (1 - top.a);
    if (a === 0) return { r: 0, g: 0, b: 0, a: 0 };
    const mix = (t, b) => (t * top.a + b * bottom.a * (1 - top.a)) / a;
    return { r: mix(top.r, bottom.r), g: mix(top.g, bottom.g), b: mix(top.b, bottom.b), a };
  }
  function luminance(c) {
    const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  }
  function ratio(a, b) {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  }
  const canvas = parse(getComputedStyle(document.documentElement).backgroundColor);
  const base = canvas && canvas.a === 1 ? canvas :
    (matchMedia("(prefers-color-scheme: dark)").matches ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 });
  function background(el) {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== "none" && !style.backgroundImage.startsWith("url(")) return null;
      const c = parse(style.backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let result = base;
    for (let i = layers.length - 1; i >= 0; i--) result = over(layers[i], result);
    return result;
  }
  function opacity(el) {
    let o = 1;
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) o *= parseFloat(getComputedStyle(node).opacity);
    return o;
  }
  function describe(el) {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    if (typeof el.className === "string" && el.className.trim()) name += "." + el.className.trim().split(/\s+/).join(".");
    return name;
  }
  function visible(el) {
    if (el.closest("[hidden], .visually-hidden, option, script, style, noscript, template")) return false;
    if (el.checkVisibility && !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    const box = el.getBoundingClientRect();
    return box.width > 2 && box.height > 2;
  }
  const failures = [], seen = new Set();
  function check(el, text) {
    if (seen.has(el) || !visible(el)) return;
    seen.add(el);
    // Inactive controls are exempt from WCAG 1.4.3.
    if (el.closest(":disabled, [aria-disabled=true]")) return;
    const style = getComputedStyle(el);
    const inSvg = el.closest("svg") !== null;
    let color = parse(inSvg ? style.fill : style.color);
    const bg = background(inSvg ? el.closest("svg") : el);
    if (!color || !bg) return;
    color = { ...color, a: color.a * (inSvg ? parseFloat(style.fillOpacity) : 1) * opacity(el) };
    const fg = over(color, bg);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const needed = large ? 3 : 4.5;
    const value = ratio(fg, bg);
    if (value + 0.005 < needed) {
      const css = (c) => `rgb(${Math.round(c.r)}, ${Math.round(c.g)}, ${Math.round(c.b)})`;
      failures.push({ element: describe(el), text: text.trim().slice(0, 40), color: css(fg), background: css(bg),
                      ratio: Math.round(value * 100) / 100, needed });
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.textContent.trim() && node.parentElement) check(node.parentElement, node.textContent);
  }
  for (const field of document.querySelectorAll("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea")) {
    const text = field.tagName === "SELECT" ? (field.selectedOptions[0] || {}).textContent || "" : field.value;
    if (text.trim()) check(field, text);
  }
  return failures;
}
