//! A core's slice of a port range. RTP takes even ports and RTCP the odd one above
//! (RFC 3550 §11); a muxed leg takes the even port alone. A port that another process
//! holds is skipped, not fatal, so parallel daemons and tests can share a range.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct PortSlice {
    free: VecDeque<u16>,
}

impl PortSlice {
    /// The `core`-th of `cores` equal slices of `[min, max]`, aligned to even ports.
    pub fn new(min: u16, max: u16, core: usize, cores: usize) -> Self {
        Self::with_step(min + (min & 1), max, core, cores, 2)
    }

    /// Every port of the range (TURN relays need no RTP/RTCP pairing).
    pub fn every_port(min: u16, max: u16, core: usize, cores: usize) -> Self {
        Self::with_step(min, max, core, cores, 1)
    }

    /// Units of `step` ports starting at `first`; a unit must fit below `max`.
    fn with_step(first: u16, max: u16, core: usize, cores: usize, step: usize) -> Self {
        let units = (max as usize + 1).saturating_sub(first as usize) / step;
        let per = units / cores.max(1);
        let start = core * per;
        let end = if core + 1 == cores { units } else { start + per };
        PortSlice { free: (start..end).map(|i| first + (i * step) as u16).collect() }
    }

    /// Try ports in order with `bind` until one works; every port tried is put back at
    /// the end of the queue when it failed, so a transient clash is retried later.
    pub fn allocate<T, E>(&mut self, mut bind: impl FnMut(u16) -> Result<T, E>) -> Option<(u16, T)> {
        for _ in 0..self.free.len() {
            let p = self.free.pop_front()?;
            match bind(p) {
                Ok(t) => return Some((p, t)),
                Err(_) => self.free.push_back(p),
            }
        }
        None
    }

    /// An even port whose odd neighbour is free in this slice too (TURN EVEN-PORT with
    /// a reservation): both leave the slice; `bind` gets the even port and binds both.
    pub fn allocate_pair<T, E>(&mut self, mut bind: impl FnMut(u16) -> Result<T, E>) -> Option<(u16, T)> {
        let free: std::collections::HashSet<u16> = self.free.iter().copied().collect();
        let candidates: Vec<u16> = self.free.iter().copied().filter(|p| p % 2 == 0 && free.contains(&(p + 1))).collect();
        for p in candidates {
            if let Ok(t) = bind(p) {
                self.free.retain(|&f| f != p && f != p + 1);
                return Some((p, t));
            }
        }
        None
    }

    /// Return a port; it goes to the back so a just-closed port is reused last.
    pub fn release(&mut self, port: u16) {
        self.free.push_back(port);
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_disjoint_and_even() {
        let a = PortSlice::new(50000, 51999, 0, 2);
        let b = PortSlice::new(50000, 51999, 1, 2);
        assert_eq!(a.available() + b.available(), 1000);
        assert!(a.free.iter().all(|p| p % 2 == 0 && *p < 51000));
        assert!(b.free.iter().all(|p| p % 2 == 0 && *p >= 51000 && *p <= 51998));
    }

    #[test]
    fn every_port_slices_cover_the_range() {
        let a = PortSlice::every_port(49152, 65535, 0, 2);
        let b = PortSlice::every_port(49152, 65535, 1, 2);
        assert_eq!(a.available() + b.available(), 65535 - 49152 + 1);
        assert_eq!(PortSlice::new(50000, 51998, 0, 1).available(), 999, "51998 has no RTCP port inside the range");
    }

    #[test]
    fn pairs_take_an_even_port_and_its_neighbour() {
        let mut s = PortSlice::every_port(11, 16, 0, 1);
        assert_eq!(s.allocate_pair(|p| if p == 12 { Err(()) } else { Ok(()) }).map(|x| x.0), Some(14));
        assert_eq!(s.available(), 4);
        assert!(s.allocate_pair(|_| Ok::<_, ()>(())).is_some_and(|x| x.0 == 12));
        assert!(s.allocate_pair(|_| Ok::<_, ()>(())).is_none(), "11 and 16 have no free partner");
    }

    #[test]
    fn skips_taken_ports_and_exhausts() {
        let mut s = PortSlice::new(10, 15, 0, 1);
        assert_eq!(s.allocate(|p| if p == 10 { Err(()) } else { Ok(()) }).map(|x| x.0), Some(12));
        assert_eq!(s.allocate(|_| Ok::<_, ()>(())).map(|x| x.0), Some(14));
        assert_eq!(s.allocate(|_| Ok::<_, ()>(())).map(|x| x.0), Some(10));
        assert!(s.allocate(|_| Ok::<_, ()>(())).is_none());
        s.release(12);
        assert_eq!(s.allocate(|_| Ok::<_, ()>(())).map(|x| x.0), Some(12));
    }
}
