//! Element types: how far apart two encoded elements are, and the narrow float formats decoded.

use half::bf16;

use super::safetensors::Dtype;

/// IEEE 754 half precision, as f64.
fn f16(bits: u16) -> f64 {
    half::f16::from_bits(bits).to_f64()
}

/// |y − x| for two encoded elements; `None` when either is NaN or infinite.
pub fn abs_change(dtype: Dtype, x: &[u8], y: &[u8]) -> Option<f64> {
    fn int(a: i128, b: i128) -> Option<f64> {
        Some((b - a).unsigned_abs() as f64)
    }
    fn float(a: f64, b: f64) -> Option<f64> {
        (a.is_finite() && b.is_finite()).then(|| (b - a).abs())
    }
    fn le<const N: usize>(s: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&s[..N]);
        a
    }
    match dtype {
        Dtype::Bool | Dtype::U8 => int(x[0] as i128, y[0] as i128),
        Dtype::I8 => int(x[0] as i8 as i128, y[0] as i8 as i128),
        Dtype::I16 => int(
            i16::from_le_bytes(le(x)) as i128,
            i16::from_le_bytes(le(y)) as i128,
        ),
        Dtype::U16 => int(
            u16::from_le_bytes(le(x)) as i128,
            u16::from_le_bytes(le(y)) as i128,
        ),
        Dtype::I32 => int(
            i32::from_le_bytes(le(x)) as i128,
            i32::from_le_bytes(le(y)) as i128,
        ),
        Dtype::U32 => int(
            u32::from_le_bytes(le(x)) as i128,
            u32::from_le_bytes(le(y)) as i128,
        ),
        Dtype::I64 => int(
            i64::from_le_bytes(le(x)) as i128,
            i64::from_le_bytes(le(y)) as i128,
        ),
        Dtype::U64 => int(
            u64::from_le_bytes(le(x)) as i128,
            u64::from_le_bytes(le(y)) as i128,
        ),
        Dtype::F16 => float(
            f16(u16::from_le_bytes(le(x))),
            f16(u16::from_le_bytes(le(y))),
        ),
        Dtype::BF16 => float(
            bf16::from_bits(u16::from_le_bytes(le(x))).to_f64(),
            bf16::from_bits(u16::from_le_bytes(le(y))).to_f64(),
        ),
        Dtype::F32 => float(
            f32::from_le_bytes(le(x)) as f64,
            f32::from_le_bytes(le(y)) as f64,
        ),
        Dtype::F64 => float(f64::from_le_bytes(le(x)), f64::from_le_bytes(le(y))),
        // E5M2 is the top byte of an IEEE half.
        Dtype::F8E5M2 => float(f16((x[0] as u16) << 8), f16((y[0] as u16) << 8)),
        Dtype::F8E4M3 => float(f8e4m3_to_f64(x[0]), f8e4m3_to_f64(y[0])),
        Dtype::F8E8M0 => float(f8e8m0_to_f64(x[0]), f8e8m0_to_f64(y[0])),
        Dtype::C64 => {
            let part = |s: &[u8], i: usize| f32::from_le_bytes(le(&s[i..])) as f64;
            let (xr, xi, yr, yi) = (part(x, 0), part(x, 4), part(y, 0), part(y, 4));
            if [xr, xi, yr, yi].iter().all(|v| v.is_finite()) {
                Some((yr - xr).hypot(yi - xi))
            } else {
                None
            }
        }
    }
}

/// float8 E4M3 (the "FN" variant: no infinities, NaN at all ones).
fn f8e4m3_to_f64(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = ((b >> 3) & 0xf) as i32;
    let man = (b & 7) as f64;
    match exp {
        15 if man == 7.0 => f64::NAN,
        0 => sign * man / 8.0 * 2f64.powi(-6),
        _ => sign * (1.0 + man / 8.0) * 2f64.powi(exp - 7),
    }
}

/// float8 E8M0: an unsigned power of two, NaN at 0xFF.
fn f8e8m0_to_f64(b: u8) -> f64 {
    if b == 0xff {
        f64::NAN
    } else {
        2f64.powi(b as i32 - 127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_floats_decode_to_their_values() {
        // 1.0 and 3.0 in each format: the change is 2.
        let cases: [(Dtype, &[u8], &[u8]); 5] = [
            (
                Dtype::F16,
                &0x3c00u16.to_le_bytes(),
                &0x4200u16.to_le_bytes(),
            ),
            (
                Dtype::BF16,
                &0x3f80u16.to_le_bytes(),
                &0x4040u16.to_le_bytes(),
            ),
            (Dtype::F8E5M2, &[0x3c], &[0x42]),
            (Dtype::F8E4M3, &[0x38], &[0x44]),
            // E8M0 holds powers of two only: 1 and 4.
            (Dtype::F8E8M0, &[127], &[129]),
        ];
        for (dtype, one, three) in cases {
            let want = if dtype == Dtype::F8E8M0 { 3.0 } else { 2.0 };
            assert_eq!(abs_change(dtype, one, three), Some(want), "{dtype:?}");
        }
        // Infinities and NaN have no distance.
        assert_eq!(
            abs_change(
                Dtype::F16,
                &0x7c00u16.to_le_bytes(),
                &0x3c00u16.to_le_bytes()
            ),
            None
        );
        assert_eq!(abs_change(Dtype::F8E4M3, &[0x7f], &[0x38]), None);
        assert_eq!(abs_change(Dtype::F8E8M0, &[0xff], &[127]), None);
        // A subnormal half: 2^-24.
        assert_eq!(
            abs_change(Dtype::F16, &[1, 0], &[0, 0]),
            Some(2f64.powi(-24))
        );
    }
}
