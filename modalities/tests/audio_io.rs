//! Audio I/O: decoding every supported format, mixdown, MP3 delay trimming, the 16-bit
//! contract, resampling, WAV output, and typed errors on bad input.

use std::path::PathBuf;

use tessera_modalities::audio::{
    AudioError, AudioLimits, Pcm, decode_bytes, decode_bytes_with, decode_file, decode_file_with,
    f32_to_i16, resample, wav_bytes, write_wav,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/audio")
        .join(name)
}

/// The 440 Hz sine the fixture script wrote, read independently with hound: `i16 / 32768`.
fn reference_channels(name: &str) -> Vec<Vec<f32>> {
    let mut r = hound::WavReader::open(fixture(name)).unwrap();
    let ch = r.spec().channels as usize;
    let all: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    (0..ch)
        .map(|c| {
            all.iter()
                .skip(c)
                .step_by(ch)
                .map(|&s| f32::from(s) / 32768.0)
                .collect()
        })
        .collect()
}

/// Frequency (Hz, 0.5 Hz grid in `lo..hi`) with the most energy in `x`.
fn dominant_frequency(x: &[f32], rate: u32, lo: f64, hi: f64) -> f64 {
    let mut best = (0.0, lo);
    let mut f = lo;
    while f < hi {
        let w = 2.0 * std::f64::consts::PI * f / f64::from(rate);
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            re += f64::from(s) * (w * i as f64).cos();
            im += f64::from(s) * (w * i as f64).sin();
        }
        let p = re * re + im * im;
        if p > best.0 {
            best = (p, f);
        }
        f += 0.5;
    }
    best.1
}

/// The lag (in `-max..=max`) maximising the cross-correlation of `a` against `b`.
fn best_lag(a: &[f32], b: &[f32], max: i64) -> i64 {
    let n = a.len().min(b.len()) as i64;
    (-max..=max)
        .max_by(|&l1, &l2| {
            let c = |l: i64| -> f64 {
                (max..n - max)
                    .map(|i| f64::from(a[i as usize]) * f64::from(b[(i + l) as usize]))
                    .sum()
            };
            c(l1).total_cmp(&c(l2))
        })
        .unwrap()
}

fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let sig: f64 = reference.iter().map(|&x| f64::from(x).powi(2)).sum();
    let err: f64 = reference
        .iter()
        .zip(test)
        .map(|(&a, &b)| f64::from(a - b).powi(2))
        .sum();
    10.0 * (sig / err).log10()
}

#[test]
fn wav_16bit_reads_as_sample_over_32768() {
    let pcm = decode_file(fixture("sine440.wav")).unwrap();
    assert_eq!(pcm.sample_rate, 16_000);
    assert_eq!(pcm.samples, reference_channels("sine440.wav")[0]);
}

#[test]
fn flac_is_lossless() {
    let flac = decode_file(fixture("sine440.flac")).unwrap();
    assert_eq!(flac.sample_rate, 16_000);
    assert_eq!(flac.samples, reference_channels("sine440.wav")[0]);
}

#[test]
fn mp3_encoder_delay_and_padding_are_trimmed() {
    let reference = &reference_channels("sine440.wav")[0];
    let mp3 = decode_file(fixture("sine440.mp3")).unwrap();
    assert_eq!(mp3.sample_rate, 16_000);
    // Without trimming, LAME's delay (576 + 529 samples) and padding would be added.
    let diff = (mp3.samples.len() as i64 - reference.len() as i64).abs();
    assert!(
        diff <= 576,
        "decoded {} samples for {}",
        mp3.samples.len(),
        reference.len()
    );
    // Trimmed at the start: the decoded signal is aligned with the original, not delayed.
    assert_eq!(best_lag(reference, &mp3.samples, 40), 0);
    let snr = snr_db(&reference[..7000], &mp3.samples[..7000]);
    assert!(snr > 15.0, "SNR {snr:.1} dB");
}

#[test]
fn ogg_vorbis_decodes_aligned() {
    let reference = &reference_channels("sine440.wav")[0];
    let ogg = decode_file(fixture("sine440.ogg")).unwrap();
    assert_eq!(ogg.sample_rate, 16_000);
    assert_eq!(ogg.samples.len(), reference.len());
    assert_eq!(best_lag(reference, &ogg.samples, 40), 0);
    let snr = snr_db(reference, &ogg.samples);
    assert!(snr > 15.0, "SNR {snr:.1} dB");
}

#[test]
fn stereo_is_mixed_down_to_the_channel_mean() {
    let ch = reference_channels("stereo.wav");
    let pcm = decode_file(fixture("stereo.wav")).unwrap();
    assert_eq!(pcm.samples.len(), ch[0].len());
    for (i, &m) in pcm.samples.iter().enumerate() {
        assert!((m - (ch[0][i] + ch[1][i]) / 2.0).abs() < 1e-7, "sample {i}");
    }
}

#[test]
fn bytes_decode_like_files() {
    for name in [
        "sine440.wav",
        "sine440.flac",
        "sine440.mp3",
        "sine440.ogg",
        "stereo.wav",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert_eq!(
            decode_bytes(bytes).unwrap(),
            decode_file(fixture(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn resampling_keeps_length_ratio_and_pitch() {
    let sine = decode_file(fixture("sine440.wav")).unwrap();
    let up = resample(&sine, 24_000).unwrap();
    assert_eq!(up.sample_rate, 24_000);
    assert!(
        (up.samples.len() as i64 - 12_000).abs() <= 1,
        "{}",
        up.samples.len()
    );
    assert!((dominant_frequency(&up.samples, 24_000, 300.0, 600.0) - 440.0).abs() <= 1.0);
    let back = resample(&up, 16_000).unwrap();
    assert!((back.samples.len() as i64 - 8_000).abs() <= 1);
    // Away from the edges the round trip reproduces the signal.
    let snr = snr_db(&sine.samples[500..7500], &back.samples[500..7500]);
    assert!(snr > 40.0, "round-trip SNR {snr:.1} dB");
    // An awkward ratio and a very short clip.
    let odd = resample(&Pcm::new(vec![0.25; 44_101], 44_100).unwrap(), 16_000).unwrap();
    let expect = (44_101.0_f64 * 16_000.0 / 44_100.0).round() as i64;
    assert!((odd.samples.len() as i64 - expect).abs() <= 1);
    let tiny = resample(&Pcm::new(vec![0.5; 3], 16_000).unwrap(), 24_000).unwrap();
    assert!((tiny.samples.len() as i64 - 5).abs() <= 1);
    assert!(resample(&sine, 0).is_err());
}

#[test]
fn wav_write_round_trips_through_the_16bit_contract() {
    let samples = vec![
        0.0,
        0.5,
        -0.5,
        1.0,
        -1.0,
        0.123_456,
        2.0,
        -3.0,
        1.0 / 32768.0,
    ];
    let pcm = Pcm::new(samples.clone(), 22_050).unwrap();
    let dir = std::env::temp_dir().join(format!("tessera-audio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.wav");
    write_wav(&path, &pcm).unwrap();
    let back = decode_file(&path).unwrap();
    assert_eq!(back, decode_bytes(wav_bytes(&pcm).unwrap()).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(back.sample_rate, 22_050);
    let expect: Vec<f32> = samples
        .iter()
        .map(|&s| f32::from(f32_to_i16(s)) / 32768.0)
        .collect();
    assert_eq!(back.samples, expect);
    assert_eq!(back.samples[2], -0.5);
    assert_eq!(back.samples[4], -1.0); // i16::MIN
    assert_eq!(back.samples[3], 32767.0 / 32768.0); // clipped
    assert_eq!(back.samples[8], 1.0 / 32768.0); // exact
    assert!((back.samples[5] - 0.123_456).abs() <= 1.0 / 65536.0);
}

#[test]
fn unsupported_format_is_typed() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde".to_vec();
    assert!(matches!(
        decode_bytes(png),
        Err(AudioError::UnsupportedFormat(_))
    ));
    let text = b"just some text, certainly not audio".repeat(10);
    assert!(matches!(
        decode_bytes(text),
        Err(AudioError::UnsupportedFormat(_))
    ));
}

#[test]
fn zero_length_audio_is_typed() {
    assert!(matches!(decode_bytes(Vec::new()), Err(AudioError::Empty)));
    let silent = wav_bytes(&Pcm::new(vec![], 16_000).unwrap()).unwrap();
    assert!(matches!(decode_bytes(silent), Err(AudioError::Empty)));
}

#[test]
fn truncated_files_are_typed() {
    for name in ["sine440.wav", "sine440.flac", "stereo.wav"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let half = bytes[..bytes.len() / 2].to_vec();
        let r = decode_bytes(half);
        assert!(matches!(r, Err(AudioError::Corrupt(_))), "{name}: {r:?}");
        let header_only = bytes[..20].to_vec();
        let r = decode_bytes(header_only);
        assert!(
            matches!(
                r,
                Err(AudioError::Corrupt(_) | AudioError::UnsupportedFormat(_))
            ),
            "{name} header: {r:?}"
        );
    }
    let mp3 = std::fs::read(fixture("sine440.mp3")).unwrap();
    let r = decode_bytes(mp3[..mp3.len() / 2].to_vec());
    assert!(matches!(r, Err(AudioError::Corrupt(_))), "mp3: {r:?}");
}

#[test]
fn corrupt_files_are_typed() {
    // A WAV whose format chunk claims 0 channels.
    let mut wav = std::fs::read(fixture("sine440.wav")).unwrap();
    wav[22] = 0;
    wav[23] = 0;
    let r = decode_bytes(wav);
    assert!(
        matches!(
            r,
            Err(AudioError::Corrupt(_) | AudioError::UnsupportedFormat(_))
        ),
        "{r:?}"
    );
    // A FLAC whose audio frames are overwritten (frame CRCs and sync codes break).
    let mut flac = std::fs::read(fixture("sine440.flac")).unwrap();
    let n = flac.len();
    for b in &mut flac[n / 3..n / 3 + 200] {
        *b ^= 0x5a;
    }
    let r = decode_bytes(flac);
    assert!(matches!(r, Err(AudioError::Corrupt(_))), "{r:?}");
}

#[test]
fn absurd_lengths_are_refused() {
    let limits = AudioLimits::with_max_duration_s(0.1);
    let r = decode_file_with(fixture("sine440.wav"), &limits);
    assert!(matches!(r, Err(AudioError::TooLong { .. })), "{r:?}");
    let bytes = std::fs::read(fixture("sine440.mp3")).unwrap();
    let r = decode_bytes_with(bytes, Some("mp3"), &limits);
    assert!(matches!(r, Err(AudioError::TooLong { .. })), "{r:?}");
    assert!(matches!(
        decode_file(fixture("missing.wav")),
        Err(AudioError::Io { .. })
    ));
}
