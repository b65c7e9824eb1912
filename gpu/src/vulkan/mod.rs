//! Scenes drawn by Vulkan compute (vulkano): every canvas of a frame in one dispatch,
//! the pictures uploaded once through a staging buffer into device memory, the
//! canvases copied back. The device is chosen once: a GPU if there is one, else Mesa's
//! lavapipe (Vulkan on the CPU); `Compositor::start` falls back to the CPU code when
//! there is no Vulkan at all.

pub mod upload;

use crate::scene::Scene;
use crate::Frame;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vulkano::buffer::{Buffer, BufferCreateInfo, BufferUsage, Subbuffer};
use vulkano::command_buffer::allocator::StandardCommandBufferAllocator;
use vulkano::command_buffer::{AutoCommandBufferBuilder, CommandBufferUsage, CopyBufferInfo, PrimaryAutoCommandBuffer, PrimaryCommandBufferAbstract};
use vulkano::descriptor_set::allocator::StandardDescriptorSetAllocator;
use vulkano::descriptor_set::{DescriptorSet, WriteDescriptorSet};
use vulkano::device::physical::{PhysicalDevice, PhysicalDeviceType};
use vulkano::device::{Device, DeviceCreateInfo, Queue, QueueCreateInfo, QueueFlags};
use vulkano::instance::{Instance, InstanceCreateInfo};
use vulkano::memory::allocator::{AllocationCreateInfo, MemoryTypeFilter, StandardMemoryAllocator};
use vulkano::pipeline::compute::ComputePipelineCreateInfo;
use vulkano::pipeline::layout::PipelineDescriptorSetLayoutCreateInfo;
use vulkano::pipeline::{ComputePipeline, Pipeline, PipelineBindPoint, PipelineLayout, PipelineShaderStageCreateInfo};
use vulkano::shader::{ShaderModule, ShaderModuleCreateInfo};
use vulkano::sync::GpuFuture;
use vulkano::VulkanLibrary;

type Commands = AutoCommandBufferBuilder<PrimaryAutoCommandBuffer>;

static COMPOSE_SPV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/compose.spv"));
static PYRAMID_SPV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pyramid.spv"));

/// Which kind of device to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The best there is: a discrete GPU, an integrated one, a virtual one, then a CPU
    /// implementation (lavapipe).
    Best,
    /// A CPU implementation only (lavapipe): what CI has.
    Software,
}

/// A Vulkan device ready to compose.
pub struct Vulkan {
    /// The device's name as the driver reports it (logged and in stats).
    pub name: String,
    /// True for a CPU implementation (lavapipe).
    pub software: bool,
    queue: Arc<Queue>,
    compose: Arc<ComputePipeline>,
    pyramid: Arc<ComputePipeline>,
    memory: Arc<StandardMemoryAllocator>,
    commands: Arc<StandardCommandBufferAllocator>,
    sets: Arc<StandardDescriptorSetAllocator>,
    /// Buffers kept from call to call (grow only), by role: a frame's uploads and
    /// read-back reuse the previous frame's memory instead of allocating six buffers
    /// a frame. Held for the whole of `render`, which also keeps calls from sharing
    /// them.
    kept: Mutex<HashMap<&'static str, Subbuffer<[u32]>>>,
}

impl std::fmt::Debug for Vulkan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vulkan").field("name", &self.name).field("software", &self.software).finish()
    }
}

fn rank(d: &PhysicalDevice) -> u32 {
    match d.properties().device_type {
        PhysicalDeviceType::DiscreteGpu => 0,
        PhysicalDeviceType::IntegratedGpu => 1,
        PhysicalDeviceType::VirtualGpu => 2,
        PhysicalDeviceType::Cpu => 3,
        _ => 4,
    }
}

fn err(what: &str) -> impl Fn(&dyn std::fmt::Debug) -> String + '_ {
    move |e| format!("vulkan: {what}: {e:?}")
}

fn pipeline(device: &Arc<Device>, spv: &[u8]) -> Result<Arc<ComputePipeline>, String> {
    let words: Vec<u32> = spv.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    // SAFETY: the SPIR-V is glslc's output for a shader of shaders/ (build.rs).
    let module = unsafe { ShaderModule::new(device.clone(), ShaderModuleCreateInfo::new(&words)) }.map_err(|e| err("shader")(&e))?;
    let stage = PipelineShaderStageCreateInfo::new(module.entry_point("main").ok_or("vulkan: shader has no main")?);
    let layout = PipelineLayout::new(
        device.clone(),
        PipelineDescriptorSetLayoutCreateInfo::from_stages([&stage]).into_pipeline_layout_create_info(device.clone()).map_err(|e| err("layout")(&e))?,
    )
    .map_err(|e| err("layout")(&e))?;
    ComputePipeline::new(device.clone(), None, ComputePipelineCreateInfo::stage_layout(stage, layout)).map_err(|e| err("pipeline")(&e))
}

impl Vulkan {
    pub fn new(want: Want) -> Result<Vulkan, String> {
        let library = VulkanLibrary::new().map_err(|e| err("no Vulkan loader (Debian: libvulkan1 mesa-vulkan-drivers)")(&e))?;
        let instance = Instance::new(library, InstanceCreateInfo::default()).map_err(|e| err("instance")(&e))?;
        let physical = instance
            .enumerate_physical_devices()
            .map_err(|e| err("devices")(&e))?
            .filter(|d| want == Want::Best || d.properties().device_type == PhysicalDeviceType::Cpu)
            .filter_map(|d| {
                let family = d.queue_family_properties().iter().position(|q| q.queue_flags.contains(QueueFlags::COMPUTE))?;
                Some((d, family as u32))
            })
            .min_by_key(|(d, _)| rank(d))
            .ok_or_else(|| format!("vulkan: no {} device with a compute queue", if want == Want::Software { "CPU (lavapipe)" } else { "Vulkan" }))?;
        let (physical, family) = physical;
        let name = physical.properties().device_name.clone();
        let software = physical.properties().device_type == PhysicalDeviceType::Cpu;
        let (device, mut queues) = Device::new(
            physical,
            DeviceCreateInfo { queue_create_infos: vec![QueueCreateInfo { queue_family_index: family, ..Default::default() }], ..Default::default() },
        )
        .map_err(|e| err("device")(&e))?;
        let queue = queues.next().ok_or("vulkan: no queue")?;
        let compose = pipeline(&device, COMPOSE_SPV)?;
        let pyramid = pipeline(&device, PYRAMID_SPV)?;
        Ok(Vulkan {
            name,
            software,
            memory: Arc::new(StandardMemoryAllocator::new_default(device.clone())),
            commands: Arc::new(StandardCommandBufferAllocator::new(device.clone(), Default::default())),
            sets: Arc::new(StandardDescriptorSetAllocator::new(device.clone(), Default::default())),
            kept: Mutex::new(HashMap::new()),
            queue,
            compose,
            pyramid,
        })
    }

    fn buffer(&self, words: usize, usage: BufferUsage, memory: MemoryTypeFilter) -> Result<Subbuffer<[u32]>, String> {
        Buffer::new_slice::<u32>(
            self.memory.clone(),
            BufferCreateInfo { usage, ..Default::default() },
            AllocationCreateInfo { memory_type_filter: memory, ..Default::default() },
            words.max(1) as u64,
        )
        .map_err(|e| err("buffer")(&e))
    }

    /// `words` words of the buffer kept for `role`, made (twice as big as asked, to
    /// grow seldom) when there is none or it is too small.
    fn kept(&self, kept: &mut HashMap<&'static str, Subbuffer<[u32]>>, role: &'static str, words: usize, usage: BufferUsage, memory: MemoryTypeFilter) -> Result<Subbuffer<[u32]>, String> {
        let words = words.max(1) as u64;
        if let Some(b) = kept.get(role).filter(|b| b.len() >= words) {
            return Ok(b.clone().slice(..words));
        }
        let b = self.buffer(words as usize * 2, usage, memory)?;
        kept.insert(role, b.clone());
        Ok(b.slice(..words))
    }

    /// Device-local buffer of `words` words starting with `data`, copied in through a
    /// host-visible staging buffer (both kept under `roles`).
    fn upload(&self, kept: &mut HashMap<&'static str, Subbuffer<[u32]>>, roles: [&'static str; 2], data: &[u32], words: usize, cb: &mut Commands) -> Result<Subbuffer<[u32]>, String> {
        let staging = self.kept(kept, roles[0], data.len(), BufferUsage::TRANSFER_SRC, MemoryTypeFilter::PREFER_HOST | MemoryTypeFilter::HOST_SEQUENTIAL_WRITE)?;
        staging.write().map_err(|e| err("map")(&e))?.copy_from_slice(data);
        let local = self.kept(kept, roles[1], words.max(data.len()), BufferUsage::STORAGE_BUFFER | BufferUsage::TRANSFER_DST, MemoryTypeFilter::PREFER_DEVICE)?;
        cb.copy_buffer(CopyBufferInfo::buffers(staging, local.clone().slice(..data.len() as u64))).map_err(|e| err("copy")(&e))?;
        Ok(local)
    }

    fn set(&self, pipeline: &ComputePipeline, buffers: &[&Subbuffer<[u32]>]) -> Result<Arc<DescriptorSet>, String> {
        let writes = buffers.iter().enumerate().map(|(i, b)| WriteDescriptorSet::buffer(i as u32, (*b).clone()));
        DescriptorSet::new(self.sets.clone(), pipeline.layout().set_layouts()[0].clone(), writes, []).map_err(|e| err("descriptor set")(&e))
    }

    /// Draw every scene from `sources`: one submission, waited for.
    pub fn render(&self, scenes: &[Scene], sources: &[&Frame]) -> Result<Vec<Frame>, String> {
        if scenes.is_empty() {
            return Ok(Vec::new());
        }
        let packed = upload::pack(scenes, sources);
        let mut cb = AutoCommandBufferBuilder::primary(self.commands.clone(), self.queue.queue_family_index(), CommandBufferUsage::OneTimeSubmit)
            .map_err(|e| err("commands")(&e))?;
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let kept = &mut *kept;
        let src = self.upload(kept, ["sources staging", "sources"], &packed.sources, packed.source_words, &mut cb)?;
        let scene = self.upload(kept, ["scene staging", "scene"], &packed.scene, 0, &mut cb)?;
        let atlas = self.upload(kept, ["atlas staging", "atlas"], &packed.atlases, 0, &mut cb)?;
        // The pyramid levels, each from the one above (vulkano puts the barriers in).
        if !packed.levels.is_empty() {
            let jobs = self.upload(kept, ["jobs staging", "jobs"], &packed.jobs, 0, &mut cb)?;
            let set = self.set(&self.pyramid, &[&src, &jobs])?;
            let layout = self.pyramid.layout().clone();
            cb.bind_pipeline_compute(self.pyramid.clone()).map_err(|e| err("bind")(&e))?;
            cb.bind_descriptor_sets(PipelineBindPoint::Compute, layout.clone(), 0, set).map_err(|e| err("bind")(&e))?;
            for &[first, jobs, words, rows] in &packed.levels {
                cb.push_constants(layout.clone(), 0, first).map_err(|e| err("push")(&e))?;
                // SAFETY: the shader bounds-checks each job's plane; jobs are `pack`'s.
                unsafe { cb.dispatch([words.div_ceil(8), rows.div_ceil(8), jobs]) }.map_err(|e| err("dispatch")(&e))?;
            }
        }
        let out = self.kept(kept, "canvases", packed.output_words, BufferUsage::STORAGE_BUFFER | BufferUsage::TRANSFER_SRC, MemoryTypeFilter::PREFER_DEVICE)?;
        let back = self.kept(kept, "read-back", packed.output_words, BufferUsage::TRANSFER_DST, MemoryTypeFilter::PREFER_HOST | MemoryTypeFilter::HOST_RANDOM_ACCESS)?;
        let set = self.set(&self.compose, &[&src, &out, &scene, &atlas])?;
        let groups = [packed.max_words.div_ceil(8) as u32, packed.max_rows.div_ceil(8) as u32, 3 * scenes.len() as u32];
        cb.bind_pipeline_compute(self.compose.clone()).map_err(|e| err("bind")(&e))?;
        cb.bind_descriptor_sets(PipelineBindPoint::Compute, self.compose.layout().clone(), 0, set).map_err(|e| err("bind")(&e))?;
        // SAFETY: the shader bounds-checks every canvas and reads only what `pack` wrote.
        unsafe { cb.dispatch(groups) }.map_err(|e| err("dispatch")(&e))?;
        cb.copy_buffer(CopyBufferInfo::buffers(out, back.clone())).map_err(|e| err("copy back")(&e))?;
        let cb = cb.build().map_err(|e| err("build")(&e))?;
        cb.execute(self.queue.clone())
            .map_err(|e| err("execute")(&e))?
            .then_signal_fence_and_flush()
            .map_err(|e| err("flush")(&e))?
            .wait(None)
            .map_err(|e| err("wait")(&e))?;
        let words = back.read().map_err(|e| err("read back")(&e))?;
        Ok(upload::unpack(scenes, &packed, &words))
    }

}
