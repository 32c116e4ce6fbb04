//! A cache prefetch hint: one of the two modules allowed `unsafe` (the
//! intrinsic). Elsewhere than x86-64 it does nothing. Dedup's id table uses
//! it (the lifecycle has no table of its own: dedup's slot links to it).

/// Starts loading the cache line holding `value`.
#[inline(always)]
pub(crate) fn line<T>(value: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: a prefetch is a hint: it reads nothing into the program and
    // cannot fault; the address is that of a live reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = value;
}
