//! A core's view of the rooms it has legs in: its local legs and the other cores
//! that hold legs of the same room (where each packet is handed once).

use slab::Slab;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct LocalRoom {
    pub id: u32,
    /// Slots of this core's legs in the room.
    pub legs: Vec<u32>,
    /// Bit i set: core i (not this one) has legs in the room.
    pub remote_cores: u64,
}

/// Rooms by local slot (what legs point at) and by registry id (what commands and
/// hand-offs name).
#[derive(Debug, Default)]
pub struct Rooms {
    slots: Slab<LocalRoom>,
    by_id: HashMap<u32, u32>,
}

impl Rooms {
    pub fn slot_of(&self, id: u32) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    pub fn get(&self, slot: u32) -> Option<&LocalRoom> {
        self.slots.get(slot as usize)
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut LocalRoom> {
        self.slots.get_mut(slot as usize)
    }

    pub fn ensure(&mut self, id: u32) -> u32 {
        if let Some(s) = self.by_id.get(&id) {
            return *s;
        }
        let slot = self.slots.insert(LocalRoom { id, ..Default::default() }) as u32;
        self.by_id.insert(id, slot);
        slot
    }

    /// Drop the room from this core once it has neither local legs nor peers.
    pub fn gc(&mut self, slot: u32) {
        if matches!(self.get(slot), Some(r) if r.legs.is_empty() && r.remote_cores == 0) {
            let r = self.slots.remove(slot as usize);
            self.by_id.remove(&r.id);
        }
    }
}
