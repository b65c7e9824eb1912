//! Shutdown signals for the daemons: block SIGINT/SIGTERM before any thread starts
//! (every thread inherits the mask) and take them synchronously in the main thread,
//! so no handler ever runs on a media core.

pub struct Shutdown(libc::sigset_t);

impl Shutdown {
    pub fn block() -> Shutdown {
        // SAFETY: plain sigset manipulation on the calling thread.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Shutdown(set)
        }
    }

    /// Block until SIGINT or SIGTERM arrives.
    pub fn wait(&self) {
        let mut sig = 0;
        // SAFETY: the set is initialised and blocked in every thread.
        unsafe { libc::sigwait(&self.0, &mut sig) };
    }
}
