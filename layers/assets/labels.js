// Label placement: the labels that fit, most important first, none overlapping another.
//
// deck.gl's CollisionFilterExtension lives in @deck.gl/extensions, which the bundle inside
// pydeck does not export (its `deck` global has no extensions), and the pages load nothing
// else. So labels are placed here, greedily, in screen space: a few dozen boxes per view.
// A classic script (not a module), so that the single-file maps and notebooks can inline it
// as they inline mvt-loader.js; /map loads it the same way. It defines window.twinPlaceLabels.
(() => {
let ctx2d = null;
function measure(text, size, font) {
  if (!ctx2d) ctx2d = document.createElement("canvas").getContext("2d");
  ctx2d.font = `${size}px ${font}`;
  return ctx2d.measureText(text).width;
}

// candidates: [{text, position: [lon, lat, z], size, priority, offset: [dx, dy]}]; a
// candidate may instead list `offsets`, tried in turn: the first that fits is drawn (and
// becomes its `offset`).
// Returns the ones to draw, each with its screen box (for tests: none overlap).
function placeLabels(viewport, candidates, font, pad = 2) {
  const placed = [];
  const boxes = [];
  const sorted = [...candidates].sort((a, b) => b.priority - a.priority);
  const free = (box) => !(box[2] < 0 || box[3] < 0 || box[0] > viewport.width ||
    box[1] > viewport.height) &&
    !boxes.some((b) => box[0] < b[2] && box[2] > b[0] && box[1] < b[3] && box[3] > b[1]);
  for (const c of sorted) {
    if (!c.text) continue;
    const [x, y] = viewport.project(c.position);
    // Off-screen anchors first, before measuring: a region's own twin may hold thousands of
    // villages, of which a zoomed view shows a few.
    if (!(x > -200 && y > -50 && x < viewport.width + 200 && y < viewport.height + 50)) continue;
    const w = measure(c.text, c.size, font) + 6 + 2 * pad;  // 6: the label's pale box
    const h = c.size * 1.25 + 2 + 2 * pad;
    for (const offset of c.offsets || [c.offset || [0, 0]]) {
      const cx = x + offset[0], cy = y + offset[1];
      const box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
      if (!free(box)) continue;
      boxes.push(box);
      placed.push({ ...c, offset, box });
      break;
    }
  }
  return placed;
}
window.twinPlaceLabels = placeLabels;
})();
