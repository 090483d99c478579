//! Hostile media: files crafted (or mistaken) to make the image and audio readers allocate
//! without bound must come back quickly as typed errors that name the limit, and ordinary
//! files must load as before.
//!
//! Every hostile file is generated on the fly into a temporary folder: a 1 000 000 × 1 PNG
//! (a few KB), WAV headers declaring 2 147 483 647 Hz, 1 Hz and one hour, a streamed WAV of
//! unknown length, random bytes; on Linux also `/dev/zero`, `/dev/urandom` and FIFOs that
//! never end.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tessera_modalities::audio::{
    AudioError, AudioLimits, Encodec, Pcm, decode_bytes, decode_bytes_with, decode_file,
    decode_file_with, resample, resample_with, wav_bytes,
};
use tessera_modalities::image::{
    ImageError, ImageLimits, ImageLoader, ResizeFilter, RgbImage, decode_image, decode_image_with,
    encode_png, load_image, load_image_tokenizer, load_image_with, prepare_image,
    prepare_image_with, save_png,
};

/// How long a refusal may take: generous for a shared debug build, far below what reading
/// gigabytes or building a gigabyte resampler takes.
const QUICK: Duration = Duration::from_secs(5);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tessera-hostile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    fn write(&self, file: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(file);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Counts each thread's live heap bytes and their peak, so that a test can assert how much
/// one call allocated (the hostile inputs run on the test's own thread: neither the image
/// nor the audio decoders start threads).
struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // `try_with`: the counters are const-initialised and need no destructor, but a thread
    // being torn down must still never panic inside the allocator.
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches thread-local `Cell`s, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(size(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(size(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        note(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(size(new_size) - size(layout.size()));
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MIB: usize = 1 << 20;

/// Runs `f`, asserting it returns within [`QUICK`] and that its heap use on this thread
/// peaked below `max_bytes` above where it started.
fn bounded<T>(what: &str, max_bytes: usize, f: impl FnOnce() -> T) -> T {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    let peak = PEAK.with(Cell::get).saturating_sub(base);
    assert!(took < QUICK, "{what} took {took:?}");
    assert!(
        peak < size(max_bytes),
        "{what} allocated up to {peak} bytes (bound {max_bytes})"
    );
    out
}

/// A PCM WAV header (`fmt ` + `data` chunk header) with the given fields, as written by
/// hand so that any value (a rate no encoder would accept, a length the file does not have)
/// can be declared. `data_len = u32::MAX` is the streaming convention for "unknown length".
fn wav_header(rate: u32, channels: u16, bits: u16, data_len: u32) -> Vec<u8> {
    let block_align = channels * bits / 8;
    let riff_len = if data_len == u32::MAX {
        u32::MAX
    } else {
        data_len.saturating_add(36)
    };
    let mut out = Vec::with_capacity(44);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.wrapping_mul(u32::from(block_align)).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out
}

/// A complete 16-bit mono WAV of `samples` zero samples at `rate`.
fn silent_wav(rate: u32, samples: u32) -> Vec<u8> {
    let mut out = wav_header(rate, 1, 16, samples * 2);
    out.resize(out.len() + samples as usize * 2, 0);
    out
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/// The 1 000 000 × 1 black PNG (a few KB on disk, 3 MB decoded).
fn strip_png(dir: &TempDir) -> PathBuf {
    let path = dir.path("strip.png");
    save_png(&RgbImage::new(1_000_000, 1), &path).unwrap();
    path
}

#[test]
fn a_million_pixel_strip_is_refused_by_side_or_prepared_in_bounded_memory() {
    let dir = TempDir::new("strip");
    let path = strip_png(&dir);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 16 * 1024, "the strip PNG is {size} bytes");

    // Default limits: refused from the header, naming the limit and how to raise it.
    let err = bounded("loading the strip", 4 * MIB, || load_image(&path)).unwrap_err();
    match &err {
        ImageError::SideTooLong {
            width: 1_000_000,
            height: 1,
            max_side: ImageLimits::DEFAULT_MAX_SIDE,
        } => {}
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("1000000x1") && msg.contains("ImageLimits::max_side"),
        "{msg}"
    );

    // With the side limit lifted it decodes (1 Mpx is within max_pixels), and preparing it
    // for a tokenizer crops before it resizes instead of covering 256 × 256 with a
    // 256 000 000 × 256 intermediate picture.
    let lifted = ImageLimits::default().with_max_side(u32::MAX);
    let img = load_image_with(&path, &lifted).unwrap();
    assert_eq!(img.dimensions(), (1_000_000, 1));
    let out = bounded("preparing the strip", 4 * MIB, || {
        prepare_image(&img, 256, 256, ResizeFilter::Bicubic)
    })
    .unwrap();
    assert_eq!(out.dimensions(), (256, 256));
    assert!(out.pixels().all(|p| p.0 == [0, 0, 0]));

    // The same through a tokenizer's `encode`, which prepares the picture itself.
    let vq = load_image_tokenizer(&fixtures().join("patch-vq-tiny")).unwrap();
    let codes = bounded("encoding the strip", 16 * MIB, || vq.encode(&img)).unwrap();
    assert_eq!(codes.height() * codes.width(), 16);

    // A tall strip, built in memory.
    let tall = RgbImage::from_pixel(1, 1_000_000, image::Rgb([200, 10, 10]));
    let out = bounded("preparing a tall strip", 4 * MIB, || {
        prepare_image(&tall, 32, 48, ResizeFilter::Bilinear)
    })
    .unwrap();
    assert_eq!(out.dimensions(), (32, 48));
    assert_eq!(out.get_pixel(31, 47).0, [200, 10, 10]);
}

#[test]
fn resize_intermediates_are_bounded_by_max_pixels() {
    let img = RgbImage::new(40, 20);
    // A target that alone exceeds the limit is refused before anything is allocated.
    let small = ImageLimits::default().with_max_pixels(1000);
    let err = prepare_image_with(&img, 64, 64, ResizeFilter::Nearest, &small).unwrap_err();
    match &err {
        ImageError::ResizeTooLarge {
            width: 40,
            height: 20,
            target_width: 64,
            target_height: 64,
            pixels: 4096,
            max_pixels: 1000,
        } => {}
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("raise ImageLimits::max_pixels"),
        "{err}"
    );
    // Within the limit the exact resize-then-crop runs: same result as the default.
    let tight = ImageLimits::default().with_max_pixels(20 * 20);
    let pic = RgbImage::from_fn(40, 20, |x, y| image::Rgb([x as u8 * 6, y as u8 * 12, 3]));
    assert_eq!(
        prepare_image_with(&pic, 10, 10, ResizeFilter::Bicubic, &tight).unwrap(),
        prepare_image(&pic, 10, 10, ResizeFilter::Bicubic).unwrap()
    );
    // Over it (the vertical pass alone is 40 × 10 = 400 px > 399) the picture is cropped
    // first: still the target size, and close to the exact result.
    let tighter = ImageLimits::default().with_max_pixels(399);
    let approx = prepare_image_with(&pic, 10, 10, ResizeFilter::Bicubic, &tighter).unwrap();
    let exact = prepare_image(&pic, 10, 10, ResizeFilter::Bicubic).unwrap();
    assert_eq!(approx.dimensions(), (10, 10));
    let worst = approx
        .pixels()
        .zip(exact.pixels())
        .flat_map(|(a, b)| a.0.into_iter().zip(b.0).map(|(x, y)| x.abs_diff(y)))
        .max()
        .unwrap();
    assert!(
        worst <= 16,
        "crop-first differs from resize-then-crop by {worst}"
    );
}

/// A zlib stream that inflates to `1 + 258 · repeats` zero bytes, written by hand (one
/// fixed-Huffman block: a literal 0, then `repeats` copies of length 258 at distance 1,
/// 13 bits each) so that the test never holds the inflated data itself.
fn zlib_zeros(repeats: usize) -> (Vec<u8>, u64) {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u32, len: u32) {
            self.acc |= u64::from(value) << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes are stored most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            self.put(code.reverse_bits() >> (32 - len), len);
        }
    }
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // BFINAL
    b.put(1, 2); // BTYPE = fixed Huffman
    b.code(0x30, 8); // literal 0
    for _ in 0..repeats {
        b.code(0xC5, 8); // length 258 (symbol 285, no extra bits)
        b.code(0, 5); // distance 1
    }
    b.code(0, 7); // end of block
    b.put(0, 7); // flush to a byte boundary
    let n = 1 + 258 * repeats as u64;
    // Adler-32 of n zero bytes: a = 1, b = n · 1 (mod 65521).
    let adler = ((n % 65_521) << 16) as u32 | 1;
    b.out.extend_from_slice(&adler.to_be_bytes());
    (b.out, n)
}

#[test]
fn a_png_whose_icc_profile_is_a_zlib_bomb_stays_within_the_decode_budget() {
    // A 1 × 1 PNG whose iCCP chunk (under 1 MB) inflates to 128 MiB.
    let (zlib, inflated) = zlib_zeros((128 << 20) / 258);
    assert!(inflated > 127 << 20 && zlib.len() < 1 << 20);
    let plain = encode_png(&RgbImage::from_pixel(1, 1, image::Rgb([1, 2, 3]))).unwrap();
    let mut profile = b"icc\0\0".to_vec();
    profile.extend_from_slice(&zlib);
    let mut png = plain[..33].to_vec(); // signature + IHDR
    common::push_chunk(&mut png, b"iCCP", &profile);
    png.extend_from_slice(&plain[33..]);

    // With a 1024-pixel limit the decode budget is 64 MiB + 8 KiB: the profile is cut off
    // there (the PNG decoder then drops it) and the picture decodes.
    let limits = ImageLimits::default().with_max_pixels(1024);
    let budget = ImageLoader::with_limits(limits).decode_budget();
    assert_eq!(budget, (64 << 20) + 8 * 1024);
    let img = bounded("the ICC bomb", 80 * MIB, || {
        decode_image_with(&png, &limits)
    })
    .unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [1, 2, 3]);
    // Under the default budget (576 MiB) the whole profile is inflated, and still bounded.
    let default_budget = ImageLoader::new().decode_budget();
    assert_eq!(default_budget, (512 << 20) + (64 << 20));
    bounded("the ICC bomb, default limits", 600 * MIB, || {
        decode_image(&png)
    })
    .unwrap();
}

#[test]
fn oversized_image_files_are_refused_before_reading() {
    let dir = TempDir::new("bigimg");
    let png = std::fs::read(fixtures().join("images/pattern_32.png")).unwrap();
    let path = dir.write("p.png", &png);
    let limits = ImageLimits::default().with_max_file_bytes(png.len() as u64 - 1);
    let err = load_image_with(&path, &limits).unwrap_err();
    assert!(
        matches!(err, ImageError::FileTooLarge { bytes: Some(n), .. } if n == png.len() as u64),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("ImageLimits::max_file_bytes"),
        "{err}"
    );
    assert!(matches!(
        decode_image_with(&png, &limits),
        Err(ImageError::FileTooLarge { .. })
    ));
    // At exactly the limit it loads.
    let exact = ImageLimits::default().with_max_file_bytes(png.len() as u64);
    assert_eq!(
        load_image_with(&path, &exact).unwrap().dimensions(),
        (32, 32)
    );
}

#[test]
fn ordinary_images_load_as_before() {
    let png = fixtures().join("images/pattern_32.png");
    let jpg = fixtures().join("images/photo_48x40.jpg");
    let a = load_image(&png).unwrap();
    assert_eq!(a.dimensions(), (32, 32));
    assert_eq!(load_image_with(&png, &ImageLimits::default()).unwrap(), a);
    assert_eq!(ImageLoader::new().load(&png).unwrap(), a);
    assert_eq!(decode_image(&std::fs::read(&png).unwrap()).unwrap(), a);
    assert_eq!(load_image(&jpg).unwrap().dimensions(), (48, 40));
    assert_eq!(
        prepare_image(&load_image(&jpg).unwrap(), 32, 32, ResizeFilter::Bicubic)
            .unwrap()
            .dimensions(),
        (32, 32)
    );
    assert_eq!(
        ImageLoader::new().limits(),
        &ImageLimits::default(),
        "the loader's defaults are the limits' defaults"
    );
}

// ---------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------

#[test]
fn absurd_sample_rates_are_refused_from_the_header() {
    let dir = TempDir::new("rates");
    for rate in [2_147_483_647u32, 1] {
        // A 2 KB file at 2^31 − 1 Hz; a 64-byte one at 1 Hz.
        let samples = if rate == 1 { 10 } else { 1000 };
        let bytes = silent_wav(rate, samples);
        let path = dir.write(&format!("rate{rate}.wav"), &bytes);
        for r in [
            bounded("decoding a file", 4 * MIB, || decode_file(&path)),
            bounded("decoding bytes", 4 * MIB, || decode_bytes(bytes.clone())),
        ] {
            match &r {
                Err(AudioError::SampleRateOutOfRange {
                    rate: found,
                    min: AudioLimits::DEFAULT_MIN_SAMPLE_RATE,
                    max: AudioLimits::DEFAULT_MAX_SAMPLE_RATE,
                }) if *found == rate => {}
                other => panic!("{rate} Hz: {other:?}"),
            }
        }
        let msg = decode_file(&path).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("{rate} Hz")) && msg.contains("AudioLimits::max_sample_rate"),
            "{msg}"
        );
        // A wider range lets the header through (then the rate meets the resampler's check).
        let wide = AudioLimits::default().with_sample_rate_range(1, u32::MAX);
        let pcm = decode_file_with(&path, &wide).unwrap();
        assert_eq!(pcm.sample_rate, rate);
        let r = bounded("resampling", 4 * MIB, || resample(&pcm, 24_000));
        assert!(
            matches!(r, Err(AudioError::SampleRateOutOfRange { rate: found, .. }) if found == rate),
            "{r:?}"
        );
    }
    // The resampler checks its target too.
    let pcm = Pcm::new(vec![0.0; 100], 16_000).unwrap();
    assert!(matches!(
        resample(&pcm, 2_147_483_647),
        Err(AudioError::SampleRateOutOfRange { .. })
    ));
    let narrow = AudioLimits::default().with_sample_rate_range(16_000, 16_000);
    assert!(matches!(
        resample_with(&pcm, 24_000, &narrow),
        Err(AudioError::SampleRateOutOfRange { rate: 24_000, .. })
    ));
}

#[test]
fn a_declared_hour_is_refused_with_its_real_duration() {
    let dir = TempDir::new("hour");
    // One hour of 48 kHz 16-bit mono declared (345.6 MB), one second present.
    let mut bytes = wav_header(48_000, 1, 16, 3600 * 48_000 * 2);
    bytes.resize(bytes.len() + 96_000, 0);
    let path = dir.write("hour.wav", &bytes);
    let err = bounded("decoding the hour", 4 * MIB, || decode_file(&path)).unwrap_err();
    match &err {
        AudioError::TooLong {
            seconds,
            max_seconds,
            lower_bound: false,
        } if (*seconds - 3600.0).abs() < 1e-9 && *max_seconds == 600.0 => {}
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("3600.0 s exceeds the maximum of 600 s")
            && msg.contains("AudioLimits::max_duration_s"),
        "{msg}"
    );
}

#[test]
fn a_stream_of_unknown_length_stops_at_the_limit_and_says_more_than() {
    // 3 s of 8 kHz 8-bit mono (24 KB) whose header leaves the length open, as a streaming
    // encoder writes it: the duration is only known by decoding, which stops at the limit.
    let mut bytes = wav_header(8_000, 1, 8, u32::MAX);
    bytes.resize(bytes.len() + 24_000, 128);
    let limits = AudioLimits::with_max_duration_s(1.0);
    let err = decode_bytes_with(bytes, Some("wav"), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::TooLong { lower_bound: true, max_seconds, .. } if max_seconds == 1.0
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("longer than the maximum of 1 s"), "{msg}");

    // The same at the default 600 s: 601 s of 8 kHz 8-bit (4.8 MB) never prints as
    // "600.0 s exceeds 600.0 s".
    let mut bytes = wav_header(8_000, 1, 8, u32::MAX);
    bytes.resize(bytes.len() + 601 * 8_000, 128);
    let err = bounded("decoding 601 s", 32 * MIB, || decode_bytes(bytes)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            AudioError::TooLong {
                lower_bound: true,
                ..
            }
        ) && msg.contains("longer than the maximum of 600 s")
            && !msg.contains("600.0 s exceeds"),
        "{msg}"
    );
}

#[test]
fn random_bytes_are_not_called_empty() {
    let dir = TempDir::new("random");
    for seed in 1..=8u64 {
        let bytes = random_bytes(64 * 1024, seed);
        let path = dir.write("noise.bin", &bytes);
        for r in [decode_bytes(bytes.clone()), decode_file(&path)] {
            match r {
                Err(AudioError::UnsupportedFormat(_) | AudioError::Corrupt(_)) => {}
                other => panic!("seed {seed}: {other:?}"),
            }
        }
    }
    // A file that really is empty still says so.
    let empty = dir.write("empty.wav", &[]);
    assert!(matches!(decode_file(&empty), Err(AudioError::Empty)));
}

#[test]
fn oversized_audio_files_are_refused_before_decoding() {
    let dir = TempDir::new("bigaudio");
    let bytes = silent_wav(16_000, 1000);
    let path = dir.write("a.wav", &bytes);
    let limits = AudioLimits::default().with_max_file_bytes(bytes.len() as u64 - 1);
    let err = decode_file_with(&path, &limits).unwrap_err();
    assert!(
        matches!(err, AudioError::FileTooLarge { bytes: Some(n), .. } if n == bytes.len() as u64),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("AudioLimits::max_file_bytes"),
        "{err}"
    );
    assert!(matches!(
        decode_bytes_with(bytes.clone(), None, &limits),
        Err(AudioError::FileTooLarge { .. })
    ));
    let exact = AudioLimits::default().with_max_file_bytes(bytes.len() as u64);
    assert_eq!(decode_file_with(&path, &exact).unwrap().samples.len(), 1000);
}

#[test]
fn a_frame_vq_folder_given_to_encodec_says_what_it_is() {
    let dir = TempDir::new("audiovq");
    dir.write(
        "config.json",
        br#"{"codebook_size": 192, "frame_size": 400, "levels": 1, "sample_rate": 16000,
             "transform": "mdct", "type": "frame-vq"}"#,
    );
    let err = Encodec::load(&dir.0).unwrap_err();
    assert!(
        matches!(&err, AudioError::Config { field, .. } if field == "type"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"frame-vq\"")
            && msg.contains("not an EnCodec model")
            && !msg.contains("power of two"),
        "{msg}"
    );
}

#[test]
fn ordinary_audio_decodes_as_before() {
    let audio = fixtures().join("audio");
    for name in [
        "sine440.wav",
        "sine440.flac",
        "sine440.mp3",
        "sine440.ogg",
        "stereo.wav",
    ] {
        let pcm = decode_file(audio.join(name)).unwrap();
        assert!(pcm.duration_s() > 0.1, "{name}");
        assert_eq!(
            decode_file_with(audio.join(name), &AudioLimits::default()).unwrap(),
            pcm,
            "{name}"
        );
        let up = resample(&pcm, 24_000).unwrap();
        assert_eq!(up.sample_rate, 24_000);
    }
    let pcm = Pcm::new(vec![0.25; 1600], 16_000).unwrap();
    let back = decode_bytes(wav_bytes(&pcm).unwrap()).unwrap();
    assert_eq!(back, pcm);
}

// ---------------------------------------------------------------------------------------
// Devices and pipes (Linux)
// ---------------------------------------------------------------------------------------

#[cfg(target_os = "linux")]
mod devices {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::{MIB, TempDir, bounded, wav_header};
    use tessera_modalities::audio::{AudioError, AudioLimits, decode_file, decode_file_with};
    use tessera_modalities::image::{ImageError, ImageLimits, load_image, load_image_with};

    #[test]
    fn dev_zero_as_an_image_fails_after_a_few_bytes() {
        let r = bounded("/dev/zero as an image", MIB, || {
            load_image(Path::new("/dev/zero"))
        });
        assert!(matches!(r, Err(ImageError::Unsupported { .. })), "{r:?}");
    }

    #[test]
    fn dev_zero_and_urandom_as_audio_are_not_called_empty() {
        let r = bounded("/dev/zero as audio", 8 * MIB, || decode_file("/dev/zero"));
        assert!(matches!(r, Err(AudioError::UnsupportedFormat(_))), "{r:?}");
        // Random data may look like MP3 frames for a while; the byte limit ends it.
        let limits = AudioLimits::default().with_max_file_bytes(1 << 20);
        let r = bounded("/dev/urandom as audio", 64 * MIB, || {
            decode_file_with("/dev/urandom", &limits)
        });
        assert!(
            matches!(
                r,
                Err(AudioError::UnsupportedFormat(_)
                    | AudioError::Corrupt(_)
                    | AudioError::FileTooLarge { bytes: None, .. })
            ),
            "{r:?}"
        );
    }

    /// A FIFO at `path` fed `head` and then zeros until the reader goes away, or `None`
    /// where `mkfifo` is unavailable.
    fn endless_fifo(dir: &TempDir, name: &str, head: Vec<u8>) -> Option<PathBuf> {
        let path = dir.path(name);
        let made = Command::new("mkfifo").arg(&path).status().ok()?;
        if !made.success() {
            return None;
        }
        let writer_path = path.clone();
        std::thread::spawn(move || {
            let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&writer_path) else {
                return;
            };
            if f.write_all(&head).is_err() {
                return;
            }
            let zeros = vec![0u8; 64 * 1024];
            // Ends with EPIPE once the reader closes its end (Rust ignores SIGPIPE).
            while f.write_all(&zeros).is_ok() {}
        });
        Some(path)
    }

    #[test]
    fn endless_streams_stop_at_max_file_bytes() {
        let dir = TempDir::new("fifo");
        let png_head = b"\x89PNG\r\n\x1a\n".to_vec();
        let Some(img) = endless_fifo(&dir, "img.png", png_head) else {
            eprintln!("mkfifo unavailable: skipped");
            return;
        };
        let limits = ImageLimits::default().with_max_file_bytes(1 << 20);
        let r = bounded("an endless PNG", 4 * MIB, || load_image_with(&img, &limits));
        assert!(
            matches!(
                r,
                Err(ImageError::FileTooLarge { bytes: None, max_file_bytes })
                    if max_file_bytes == 1 << 20
            ),
            "{r:?}"
        );

        // A streamed WAV (unknown length) of endless silence, under a long duration limit:
        // the byte limit stops it.
        let Some(wav) = endless_fifo(&dir, "a.wav", wav_header(8_000, 1, 8, u32::MAX)) else {
            return;
        };
        let limits = AudioLimits::with_max_duration_s(3600.0).with_max_file_bytes(1 << 20);
        let r = bounded("an endless WAV", 16 * MIB, || {
            decode_file_with(&wav, &limits)
        });
        match &r {
            Err(e @ AudioError::FileTooLarge { bytes: None, .. }) => {
                assert!(e.to_string().contains("reading stopped there"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
