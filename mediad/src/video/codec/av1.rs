//! AV1 decoding through dav1d (Debian's libdav1d 1.0 via the `dav1d` crate 0.9.6, the
//! last release that builds against it). One thread and no frame delay: a picture
//! comes out of the temporal unit that carries it.

use super::{frame_from_planes, Decoded};
use dav1d::{Error, PixelLayout, PlanarImageComponent as C, Settings};

pub struct Decoder(dav1d::Decoder);

impl Decoder {
    pub fn new() -> Result<Decoder, String> {
        let mut s = Settings::new();
        s.set_n_threads(1);
        s.set_max_frame_delay(1);
        dav1d::Decoder::with_settings(&s).map(Decoder).map_err(|e| format!("dav1d: {e:?}"))
    }

    pub fn decode(&mut self, data: &[u8]) -> Decoded {
        let mut sent = self.0.send_data(data.to_vec(), None, None, None);
        let mut picture = None;
        loop {
            match sent {
                Ok(()) | Err(Error::Again) => {}
                Err(e) => {
                    self.0.flush();
                    return Decoded::Corrupt(format!("dav1d: {e:?}"));
                }
            }
            match self.0.get_picture() {
                Ok(p) => picture = Some(p),
                Err(Error::Again) => {}
                Err(e) => return Decoded::Corrupt(format!("dav1d: {e:?}")),
            }
            if sent.is_ok() {
                break;
            }
            sent = self.0.send_pending_data();
        }
        let Some(p) = picture else { return Decoded::Nothing };
        if p.pixel_layout() != PixelLayout::I420 || p.bit_depth() != 8 {
            return Decoded::Corrupt(format!("dav1d: {:?} at {} bits, only 8-bit 4:2:0 is composed", p.pixel_layout(), p.bit_depth()));
        }
        let planes = [C::Y, C::U, C::V].map(|c| (p.plane(c), p.stride(c) as usize));
        let [(y, sy), (u, su), (v, sv)] = &planes;
        frame_from_planes(p.width() as usize, p.height() as usize, [(y.as_ref(), *sy), (u.as_ref(), *su), (v.as_ref(), *sv)])
            .map_or(Decoded::Corrupt("empty picture".into()), Decoded::Picture)
    }
}
