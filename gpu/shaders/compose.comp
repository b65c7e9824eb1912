#version 450
// Draws scenes (gpu/src/scene.rs) on YUV 4:2:0 canvases: one invocation writes four
// horizontally adjacent samples (one 32-bit word) of one plane of one canvas. Each
// sample walks the scene's operations from the top of the list down to the first
// opaque one covering it, then blends the text operations above that one back up:
// the same picture as the CPU's painter's algorithm (gpu/src/cpu.rs), with the same
// integer arithmetic (tap tables from gpu/src/filter.rs, Atlas::coverage, blend).
// Buffer layouts are written by gpu/src/vulkan/upload.rs.

layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;

// `restrict`: the buffers never alias, so loads can be kept across the output stores.
layout(set = 0, binding = 0) restrict readonly buffer Sources { uint src[]; };   // input planes, bytes
layout(set = 0, binding = 1) restrict writeonly buffer Canvases { uint dst[]; }; // output planes
layout(set = 0, binding = 2) restrict readonly buffer SceneWords { uint sc[]; };  // canvases, ops, tables
layout(set = 0, binding = 3) restrict readonly buffer Atlases { uint atlas[]; }; // glyph coverage, bytes

const uint OP_WORDS = 16u;
const uint FILL = 0u;
const uint PICTURE = 1u;
const uint TEXT = 2u;
const uint MAX_BLENDS = 4u;
const uint BIN = 32u;  // upload.rs BIN

uint src_byte(uint off) { return (src[off >> 2] >> ((off & 3u) * 8u)) & 255u; }
uint atlas_byte(uint off) { return (atlas[off >> 2] >> ((off & 3u) * 8u)) & 255u; }

// One tent-filtered sample of a picture: `dx`, `dy` relative to the destination rect.
uint picture(uint o, uint p, uint dx, uint dy) {
    uint plane = sc[o + 5u + p];
    uint stride = p == 0u ? sc[o + 8u] : sc[o + 13u];
    uint tx = sc[o + (p == 0u ? 9u : 11u)];
    uint ty = sc[o + (p == 0u ? 10u : 12u)];
    uint ex = tx + 1u + dx * sc[tx];
    uint ey = ty + 1u + dy * sc[ty];
    uint fx = sc[ex], nx = sc[ex + 1u], fy = sc[ey], ny = sc[ey + 1u];
    uint acc = 0u;
    for (uint j = 0u; j < ny; j++) {
        uint row = plane + (fy + j) * stride + fx;
        uint h = 0u;
        for (uint i = 0u; i < nx; i++) {
            h += sc[ex + 2u + i] * src_byte(row + i);
        }
        acc += sc[ey + 2u + j] * ((h + 128u) >> 8);  // WEIGHT_BITS 14, MID_BITS 6
    }
    return (acc + (1u << 19)) >> 20;
}

// Glyph coverage at luma position (x, y) relative to the text rect.
uint coverage(uint o, uint x, uint y) {
    uint cw = sc[o + 8u], ch = sc[o + 9u];
    uint col = x / cw;
    if (col >= sc[o + 7u] || y >= ch) return 0u;
    uint g = sc[sc[o + 6u] + col];
    return atlas_byte(sc[o + 10u] + (g * ch + y) * cw + x % cw);
}

uint text_coverage(uint o, uint p, uint x, uint y) {
    if (p == 0u) return coverage(o, x, y);
    uint sum = coverage(o, 2u * x, 2u * y) + coverage(o, 2u * x + 1u, 2u * y)
             + coverage(o, 2u * x, 2u * y + 1u) + coverage(o, 2u * x + 1u, 2u * y + 1u);
    return (sum + 2u) >> 2;
}

uint colour(uint o, uint p) { return (sc[o + 5u] >> (8u * p)) & 255u; }

// Walks the ops of one bin (`list`, `count`: its op offsets), top first, for plane
// sample (x, y).
uint sample_at(uint list, uint count, uint p, uint x, uint y) {
    uint blends[MAX_BLENDS];
    uint nb = 0u;
    uint v = 16u;
    uint shift = p == 0u ? 0u : 1u;
    for (uint k = count; k > 0u; k--) {
        uint o = sc[list + k - 1u];
        uvec4 r = uvec4(sc[o + 1u], sc[o + 2u], sc[o + 3u], sc[o + 4u]) >> shift;
        if (x < r.x || y < r.y || x >= r.x + r.z || y >= r.y + r.w) continue;
        uint kind = sc[o];
        if (kind == TEXT) {
            if (nb < MAX_BLENDS) { blends[nb] = o; nb++; }
            continue;
        }
        v = kind == FILL ? colour(o, p) : picture(o, p, x - r.x, y - r.y);
        break;
    }
    for (uint b = nb; b > 0u; b--) {
        uint o = blends[b - 1u];
        uint a = text_coverage(o, p, x - (sc[o + 1u] >> shift), y - (sc[o + 2u] >> shift));
        if (a > 0u) v = (colour(o, p) * a + v * (255u - a) + 127u) / 255u;
    }
    return v;
}

void main() {
    uint canvas = gl_GlobalInvocationID.z / 3u;
    uint p = gl_GlobalInvocationID.z % 3u;
    uint c = 1u + canvas * 8u;  // w, h, y_off, u_off, v_off, ops_start, ops_count, bins
    uint shift = p == 0u ? 0u : 1u;
    uint pw = sc[c] >> shift, ph = sc[c + 1u] >> shift;
    uint x0 = gl_GlobalInvocationID.x * 4u, y = gl_GlobalInvocationID.y;
    if (x0 >= pw || y >= ph) return;
    // The four samples of a word lie in one bin (bins are 32 luma samples wide, words
    // 4 samples at even offsets): look it up once.
    uint lx = p == 0u ? x0 : 2u * x0, ly = p == 0u ? y : 2u * y;
    uint bin = sc[c + 7u] + 2u * ((ly / BIN) * ((sc[c] + BIN - 1u) / BIN) + lx / BIN);
    uint list = sc[bin], count = sc[bin + 1u];
    uint word = 0u;
    for (uint i = 0u; i < 4u; i++) {
        word |= sample_at(list, count, p, x0 + i, y) << (8u * i);
    }
    dst[(sc[c + 2u + p] + y * pw + x0) >> 2] = word;
}
