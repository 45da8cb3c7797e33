/* A main-thread Mapbox Vector Tile (MVT 2.1) loader for deck.gl's MVTLayer.
 *
 * Why this exists: the deck.gl bundle that ships with pydeck carries only loaders.gl's
 * *worker* MVT loader, whose worker script it would fetch from a CDN (unpkg). On a closed
 * network that fails, and with workers disabled the bundle has no parser at all. This small
 * decoder parses tiles on the main thread instead, into GeoJSON features in the tile-local
 * [0, 1] coordinates MVTLayer expects (or lon/lat when a globe view asks for "wgs84").
 * Use it with `binary: false, loaders: [twinMVTLoader]`.
 *
 * Spec: https://github.com/mapbox/vector-tile-spec/tree/master/2.1 (protobuf wire format,
 * zig-zag deltas, MoveTo/LineTo/ClosePath commands, exterior rings with positive area).
 */
(function (root) {
  "use strict";
  const utf8 = new TextDecoder("utf-8");

  class Reader {
    constructor(bytes, pos, end) {
      this.b = bytes; this.pos = pos || 0; this.end = end === undefined ? bytes.length : end;
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    varint() {
      // Multiplication, not shifts: ids and uint64 values can exceed 32 bits.
      let result = 0, scale = 1, byte;
      do {
        byte = this.b[this.pos++];
        result += (byte & 0x7f) * scale;
        scale *= 128;
      } while (byte & 0x80);
      return result;
    }
    svarint() { const n = this.varint(); return n % 2 === 1 ? (n + 1) / -2 : n / 2; }
    bytes() { const n = this.varint(); const s = this.pos; this.pos += n; return [s, this.pos]; }
    string() { const [s, e] = this.bytes(); return utf8.decode(this.b.subarray(s, e)); }
    skip(wire) {
      if (wire === 0) this.varint();
      else if (wire === 1) this.pos += 8;
      else if (wire === 2) this.bytes();
      else if (wire === 5) this.pos += 4;
      else throw new Error(`MVT: unsupported protobuf wire type ${wire}`);
    }
    // Calls fn(field, wire) for each field; fn returns false to have the field skipped.
    fields(fn) {
      while (this.pos < this.end) {
        const tag = this.varint();
        const field = Math.floor(tag / 8), wire = tag & 7;
        if (fn(field, wire) === false) this.skip(wire);
      }
    }
  }

  function readValue(r) {
    const [s, e] = r.bytes();
    const v = new Reader(r.b, s, e);
    let out = null;
    v.fields((f) => {
      if (f === 1) out = v.string();
      else if (f === 2) { out = v.view.getFloat32(v.pos, true); v.pos += 4; }
      else if (f === 3) { out = v.view.getFloat64(v.pos, true); v.pos += 8; }
      else if (f === 4 || f === 5) out = v.varint();
      else if (f === 6) out = v.svarint();
      else if (f === 7) out = Boolean(v.varint());
      else return false;
      return true;
    });
    return out;
  }

  function packed(r) {
    const [s, e] = r.bytes();
    const p = new Reader(r.b, s, e), out = [];
    while (p.pos < e) out.push(p.varint());
    return out;
  }

  // Geometry commands to lists of rings/lines/points, in tile units.
  function commands(geom) {
    const parts = [];
    let x = 0, y = 0, i = 0, part = null;
    while (i < geom.length) {
      const cmd = geom[i++], id = cmd & 7, count = cmd >> 3;
      if (id === 1 || id === 2) {
        for (let k = 0; k < count; k++) {
          const dx = geom[i++], dy = geom[i++];
          x += dx % 2 === 1 ? (dx + 1) / -2 : dx / 2;
          y += dy % 2 === 1 ? (dy + 1) / -2 : dy / 2;
          if (id === 1) { part = []; parts.push(part); }
          part.push([x, y]);
        }
      } else if (id === 7) {
        if (part && part.length) part.push([part[0][0], part[0][1]]);
      } else {
        throw new Error(`MVT: unknown geometry command ${id}`);
      }
    }
    return parts;
  }

  function ringArea(ring) {
    let a = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      a += ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
    }
    return a / 2;
  }

  function toGeometry(type, parts, project) {
    const pr = (ring) => ring.map(project);
    if (type === 1) {
      const pts = parts.flat().map(project);
      return pts.length === 1 ? { type: "Point", coordinates: pts[0] }
                              : { type: "MultiPoint", coordinates: pts };
    }
    if (type === 2) {
      return parts.length === 1 ? { type: "LineString", coordinates: pr(parts[0]) }
                                : { type: "MultiLineString", coordinates: parts.map(pr) };
    }
    // Polygons: a ring with positive area (y down) starts a polygon, negative ones are holes.
    const polys = [];
    for (const ring of parts) {
      const a = ringArea(ring);
      if (a > 0) polys.push([pr(ring)]);
      else if (a < 0 && polys.length) polys[polys.length - 1].push(pr(ring));
    }
    if (!polys.length) return null;
    return polys.length === 1 ? { type: "Polygon", coordinates: polys[0] }
                              : { type: "MultiPolygon", coordinates: polys };
  }

  function readLayer(bytes, s, e, opts, out) {
    const r = new Reader(bytes, s, e);
    const keys = [], values = [], feats = [];
    let name = "", extent = 4096;
    r.fields((f, wire) => {
      if (f === 1) name = r.string();
      else if (f === 2 && wire === 2) feats.push(r.bytes());
      else if (f === 3) keys.push(r.string());
      else if (f === 4) values.push(readValue(r));
      else if (f === 5) extent = r.varint();
      else return false;
      return true;
    });
    if (opts.layers && !opts.layers.includes(name)) return;
    const project = opts.project(extent);
    for (const [fs, fe] of feats) {
      const fr = new Reader(bytes, fs, fe);
      let id, type = 0, tags = [], geom = [];
      fr.fields((f) => {
        if (f === 1) id = fr.varint();
        else if (f === 2) tags = packed(fr);
        else if (f === 3) type = fr.varint();
        else if (f === 4) geom = packed(fr);
        else return false;
        return true;
      });
      const properties = {};
      for (let k = 0; k + 1 < tags.length; k += 2) properties[keys[tags[k]]] = values[tags[k + 1]];
      if (opts.layerProperty) properties[opts.layerProperty] = name;
      const geometry = toGeometry(type, commands(geom), project);
      if (!geometry) continue;
      const feature = { type: "Feature", geometry, properties };
      if (id !== undefined) feature.id = id;
      out.push(feature);
    }
  }

  function parseMVT(arrayBuffer, options) {
    const opts = (options && options.mvt) || {};
    const bytes = new Uint8Array(arrayBuffer || new ArrayBuffer(0));
    const out = [];
    if (!bytes.length) return out;
    const t = opts.tileIndex;
    const wgs84 = opts.coordinates === "wgs84" && t;
    opts.project = (extent) => (wgs84
      ? ([x, y]) => {
        const n = Math.pow(2, t.z);
        const lon = ((t.x + x / extent) / n) * 360 - 180;
        const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (t.y + y / extent)) / n))) * 180)
          / Math.PI;
        return [lon, lat];
      }
      : ([x, y]) => [x / extent, y / extent]);
    const r = new Reader(bytes);
    r.fields((f, wire) => {
      if (f !== 3 || wire !== 2) return false;
      const [s, e] = r.bytes();
      readLayer(bytes, s, e, opts, out);
      return true;
    });
    return out;
  }

  root.twinMVTLoader = {
    name: "Mapbox Vector Tile (main thread)", id: "twin-mvt", module: "mvt", version: "1",
    extensions: ["mvt", "pbf"],
    mimeTypes: ["application/vnd.mapbox-vector-tile", "application/x-protobuf"],
    category: "geometry", worker: false, binary: true, options: { mvt: {} },
    parse: async (arrayBuffer, options) => parseMVT(arrayBuffer, options),
    parseSync: parseMVT,
  };
  root.twinParseMVT = parseMVT;
})(typeof window !== "undefined" ? window : globalThis);
