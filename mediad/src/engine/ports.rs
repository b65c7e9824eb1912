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
        let first = min + (min & 1);
        let pairs = (max.saturating_sub(first) as usize).div_ceil(2);
        let per = pairs / cores.max(1);
        let start = core * per;
        let end = if core + 1 == cores { pairs } else { start + per };
        PortSlice { free: (start..end).map(|i| first + (i * 2) as u16).collect() }
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
