#version 450
// One level of every input's pyramid (gpu/src/pyramid.rs): each sample the rounded
// mean of a 2x2 block of the level above. One invocation writes one word (four
// samples) of one plane; the plane jobs of this level start at `first_job`.
// Layouts: gpu/src/vulkan/upload.rs.

layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;

layout(set = 0, binding = 0) buffer Sources { uint src[]; };
layout(set = 0, binding = 1) readonly buffer Jobs { uint jobs[]; };
layout(push_constant) uniform Level { uint first_job; };

uint byte_at(uint off) { return (src[off >> 2] >> ((off & 3u) * 8u)) & 255u; }

void main() {
    uint j = (first_job + gl_GlobalInvocationID.z) * 8u;
    uint from = jobs[j], from_stride = jobs[j + 1u], to = jobs[j + 2u], to_stride = jobs[j + 3u];
    uint wx = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (wx >= jobs[j + 4u] || y >= jobs[j + 5u]) return;
    uint a = from + 2u * y * from_stride + 8u * wx;
    uint b = a + from_stride;
    uint word = 0u;
    for (uint i = 0u; i < 4u; i++) {
        uint s = byte_at(a + 2u * i) + byte_at(a + 2u * i + 1u) + byte_at(b + 2u * i) + byte_at(b + 2u * i + 1u);
        word |= ((s + 2u) >> 2) << (8u * i);
    }
    src[(to + y * to_stride + 4u * wx) >> 2u] = word;
}
