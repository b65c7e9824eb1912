//! Grouping of an outbox into sendmsg-shaped messages: per socket, consecutive items
//! to the same destination with the same length become one UDP GSO message (one
//! iovec per datagram, kernel splits at `segment`), everything else one message each.

use super::SendItem;

/// Kernel limits: at most 64 segments and 64 KiB per GSO send.
pub const MAX_SEGMENTS: usize = 64;
const MAX_GSO_BYTES: usize = 65_000;

/// A message to send: `items[start..start+count]` of the sorted outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub start: usize,
    pub count: usize,
    /// Segment size when `count > 1`.
    pub segment: u16,
}

/// Order items by socket (stable, so per-destination order is kept) and cut runs.
/// `order` receives item indices, `groups` the messages over `order`.
pub fn plan(items: &[SendItem], gso: bool, order: &mut Vec<u32>, groups: &mut Vec<Group>) {
    order.clear();
    groups.clear();
    order.extend(0..items.len() as u32);
    order.sort_by_key(|&i| items[i as usize].fd);
    let mut i = 0;
    while i < order.len() {
        let first = &items[order[i] as usize];
        let mut count = 1;
        if gso {
            while i + count < order.len() && count < MAX_SEGMENTS {
                let next = &items[order[i + count] as usize];
                if next.fd != first.fd
                    || next.len != first.len
                    || !next.dest.same(&first.dest)
                    || (count + 1) * first.len as usize > MAX_GSO_BYTES
                {
                    break;
                }
                count += 1;
            }
        }
        groups.push(Group { start: i, count, segment: first.len as u16 });
        i += count;
    }
}

/// Write a UDP_SEGMENT control message into `buf` (which must be CMSG_SPACE(2)
/// bytes) and return its length.
pub fn write_segment_cmsg(buf: &mut [u8; 32], segment: u16) -> usize {
    // SAFETY: buf is large and aligned enough for one cmsghdr carrying a u16; we
    // build it through the libc macros on a msghdr that points at buf.
    unsafe {
        let space = libc::CMSG_SPACE(2) as usize;
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(2) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, segment);
        space
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::RawAddr;

    fn item(fd: i32, port: u16, len: u32) -> SendItem {
        SendItem {
            fd,
            dest: RawAddr::from_std(format!("127.0.0.1:{port}").parse().unwrap()),
            data: std::ptr::null(),
            len,
            hold: 0,
        }
    }

    #[test]
    fn runs_split_on_fd_dest_and_size() {
        let items = vec![item(5, 1, 100), item(4, 1, 100), item(5, 1, 100), item(5, 1, 100), item(5, 2, 100), item(5, 2, 90)];
        let (mut order, mut groups) = (vec![], vec![]);
        plan(&items, true, &mut order, &mut groups);
        assert_eq!(order, vec![1, 0, 2, 3, 4, 5]);
        let counts: Vec<usize> = groups.iter().map(|g| g.count).collect();
        assert_eq!(counts, vec![1, 3, 1, 1]);
        plan(&items, false, &mut order, &mut groups);
        assert_eq!(groups.len(), 6);
    }

    #[test]
    fn gso_runs_respect_kernel_limits() {
        let items: Vec<SendItem> = (0..200).map(|_| item(3, 1, 1200)).collect();
        let (mut order, mut groups) = (vec![], vec![]);
        plan(&items, true, &mut order, &mut groups);
        assert!(groups.iter().all(|g| g.count * 1200 <= 65_000 && g.count <= MAX_SEGMENTS));
        assert_eq!(groups.iter().map(|g| g.count).sum::<usize>(), 200);
    }
}
