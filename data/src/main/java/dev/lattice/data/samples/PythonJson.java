package dev.lattice.data.samples;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.List;
import java.util.Map;

/**
 * Renders values exactly as Python's {@code json.dumps(value, indent=4)} does, because Megatron names its cache files
 * after the MD5 of that text: one different character (a float printed as {@code 1.0E-5} instead of {@code 1e-05},
 * a {@code 0.0} instead of {@code 0}) gives a different hash and a cache Megatron would not find.
 *
 * <p>Supported values: null, Boolean, Integer/Long/Short/Byte/BigInteger (Python int), Double/Float (Python float,
 * printed with {@code float.__repr__}), CharSequence (escaped with {@code ensure_ascii=True}), List and arrays of
 * objects (JSON arrays), and Map with String keys in iteration order (use a LinkedHashMap for an OrderedDict).
 */
public final class PythonJson {

    private static final String INDENT = "    ";

    private PythonJson() {
    }

    /** {@code json.dumps(value, indent=4)}. */
    public static String dumps(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, int level) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte
                || value instanceof BigInteger) {
            out.append(value);
        } else if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            // json.dumps writes these non-standard tokens for non-finite floats (allow_nan=True).
            if (Double.isNaN(d)) {
                out.append("NaN");
            } else if (Double.isInfinite(d)) {
                out.append(d > 0 ? "Infinity" : "-Infinity");
            } else {
                out.append(floatRepr(d));
            }
        } else if (value instanceof CharSequence s) {
            writeString(out, s);
        } else if (value instanceof Map<?, ?> map) {
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append("{\n");
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!(e.getKey() instanceof String key)) {
                    throw new IllegalArgumentException("JSON object keys must be strings, got " + e.getKey());
                }
                if (!first) {
                    out.append(",\n");
                }
                first = false;
                out.append(INDENT.repeat(level + 1));
                writeString(out, key);
                out.append(": ");
                write(out, e.getValue(), level + 1);
            }
            out.append('\n').append(INDENT.repeat(level)).append('}');
        } else if (value instanceof List<?> list) {
            writeArray(out, list.toArray(), level);
        } else if (value instanceof Object[] array) {
            writeArray(out, array, level);
        } else {
            throw new IllegalArgumentException("cannot render " + value.getClass().getName() + " as Python JSON");
        }
    }

    private static void writeArray(StringBuilder out, Object[] items, int level) {
        if (items.length == 0) {
            out.append("[]");
            return;
        }
        out.append("[\n");
        for (int i = 0; i < items.length; i++) {
            if (i > 0) {
                out.append(",\n");
            }
            out.append(INDENT.repeat(level + 1));
            write(out, items[i], level + 1);
        }
        out.append('\n').append(INDENT.repeat(level)).append(']');
    }

    private static void writeString(StringBuilder out, CharSequence s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        // ensure_ascii: every non-printable-ASCII UTF-16 unit as a lowercase \\uXXXX escape.
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /**
     * Python's {@code repr(float)}: the shortest decimal that reads back as the same double, in fixed notation when
     * the decimal exponent is in [-4, 16) and as {@code d.ddde±XX} otherwise.
     */
    public static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        String sign = (Double.doubleToRawLongBits(d) < 0) ? "-" : "";
        double abs = Math.abs(d);
        if (abs == 0.0) {
            return sign + "0.0";
        }
        // Shortest round-tripping digits: the exact value rounded to p significant digits for the smallest p that
        // reads back to the same double (the nearest p-digit decimal round-trips whenever any p-digit decimal does).
        BigDecimal exact = new BigDecimal(abs);
        BigDecimal shortest = null;
        for (int p = 1; p <= 17; p++) {
            BigDecimal candidate = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
            if (candidate.doubleValue() == abs) {
                shortest = candidate;
                break;
            }
        }
        if (shortest == null) {
            throw new AssertionError("17 digits always round-trip a double: " + d);
        }
        shortest = shortest.stripTrailingZeros();
        String digits = shortest.unscaledValue().toString();
        // Value = 0.digits * 10^decpt.
        int decpt = digits.length() - shortest.scale();
        StringBuilder out = new StringBuilder(sign);
        if (decpt <= -4 || decpt > 16) {
            out.append(digits.charAt(0));
            if (digits.length() > 1) {
                out.append('.').append(digits, 1, digits.length());
            }
            int exp = decpt - 1;
            out.append('e').append(exp < 0 ? '-' : '+');
            String e = Integer.toString(Math.abs(exp));
            if (e.length() < 2) {
                out.append('0');
            }
            out.append(e);
        } else if (decpt <= 0) {
            out.append("0.").append("0".repeat(-decpt)).append(digits);
        } else if (decpt < digits.length()) {
            out.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
        } else {
            out.append(digits).append("0".repeat(decpt - digits.length())).append(".0");
        }
        return out.toString();
    }
}
