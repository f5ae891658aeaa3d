package dev.lattice.data.samples;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Megatron's {@code --split} argument ("969,30,1", "99,1", "1"): three float64 weights for train/valid/test, normalized
 * to sum to one, turned into a split matrix of cumulative bookends and then into contiguous sequence ranges.
 *
 * <p>Parsing follows {@code parse_and_normalize_split}: every {@code [.0-9]+} run is a number, missing entries are
 * padded with 0. Megatron would silently read "-30" as 30 (the regex cannot see a minus sign); we reject a minus sign
 * instead, since a negative share is always a typo.
 */
public final class SplitSpec {

    private static final Pattern NUMBER = Pattern.compile("[.0-9]+");

    /** A half-open range {@code [start, end)} of sequence indices. */
    public record Range(int start, int end) {
        /** Number of indices in the range. */
        public int length() {
            return end - start;
        }

        /** The indices {@code start, ..., end-1}: a split's {@code documents} for {@link GptSampleIndex#build}. */
        public int[] indices() {
            int[] out = new int[end - start];
            for (int i = 0; i < out.length; i++) {
                out[i] = start + i;
            }
            return out;
        }
    }

    private final String text;
    private final double[] weights;

    private SplitSpec(String text, double[] weights) {
        this.text = text;
        this.weights = weights;
    }

    /**
     * Parses a {@code --split} string.
     *
     * @throws IllegalArgumentException naming the string when it holds no number, more than three, a negative sign,
     *     a malformed number such as "1.2.3", or only zeros
     */
    public static SplitSpec parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("--split is missing; expected 1 to 3 comma-separated weights like \"969,30,1\"");
        }
        if (text.indexOf('-') >= 0) {
            throw new IllegalArgumentException("--split \"" + text
                    + "\" contains a minus sign; expected 1 to 3 non-negative weights like \"969,30,1\"");
        }
        List<Double> values = new ArrayList<>();
        Matcher m = NUMBER.matcher(text);
        while (m.find()) {
            String token = m.group();
            try {
                values.add(Double.parseDouble(token));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--split \"" + text + "\" has a malformed number \"" + token
                        + "\"; expected 1 to 3 non-negative weights like \"969,30,1\"", e);
            }
        }
        if (values.isEmpty()) {
            throw new IllegalArgumentException("--split \"" + text
                    + "\" holds no number; expected 1 to 3 non-negative weights like \"969,30,1\"");
        }
        if (values.size() > 3) {
            throw new IllegalArgumentException("--split \"" + text + "\" holds " + values.size()
                    + " numbers; expected at most 3 (train, valid, test)");
        }
        double[] raw = new double[3];
        for (int i = 0; i < values.size(); i++) {
            raw[i] = values.get(i);
        }
        if (raw[0] + raw[1] + raw[2] <= 0.0) {
            throw new IllegalArgumentException("--split \"" + text
                    + "\" gives every split weight 0; expected at least one positive weight");
        }
        return new SplitSpec(text, NumpyMath.normalize(raw));
    }

    /** The string as given, which Megatron records verbatim in its cache description. */
    public String text() {
        return text;
    }

    /** The normalized train/valid/test weights (float64, summing to 1 up to rounding). */
    public double[] weights() {
        return weights.clone();
    }

    /**
     * The split matrix of {@code convert_split_vector_to_split_matrix}: per split the bookends {start, end} of the
     * cumulative weights, or null for a zero-width split. Cumulative sums are left-to-right float64 additions
     * starting from 0, exactly as Megatron forms them.
     */
    public List<double[]> matrix() {
        double[] cumulative = new double[4];
        for (int i = 0; i < 3; i++) {
            cumulative[i + 1] = cumulative[i] + weights[i];
        }
        List<double[]> out = new ArrayList<>(3);
        for (int i = 0; i < 3; i++) {
            out.add(cumulative[i + 1] <= cumulative[i] ? null : new double[] {cumulative[i], cumulative[i + 1]});
        }
        return Collections.unmodifiableList(out);
    }

    /**
     * The split matrix as Megatron serializes it into a cache description: a list of [start, end] lists or null.
     * The very first bookend start is the Python int 0 (it comes from the reduce seed {@code [0]}), so it is a
     * {@link Long} here and prints as {@code 0}; every other bound is a float and prints like {@code 0.969}.
     */
    public List<Object> matrixForDescription() {
        List<Object> out = new ArrayList<>(3);
        List<double[]> matrix = matrix();
        for (int i = 0; i < 3; i++) {
            double[] bookend = matrix.get(i);
            if (bookend == null) {
                out.add(null);
            } else {
                Object start = i == 0 ? (Object) 0L : (Object) bookend[0];
                out.add(Arrays.asList(start, bookend[1]));
            }
        }
        return out;
    }

    /**
     * The contiguous range of sequence indices each split covers for a dataset of {@code numSequences} sequences:
     * {@code [int(round(b0*N)), int(round(b1*N)))} with Python's round-half-even on the float64 product. Entries are
     * null for zero-width splits; a non-null range may still be empty when N is small.
     */
    public List<Range> ranges(int numSequences) {
        if (numSequences < 0) {
            throw new IllegalArgumentException("numSequences must be >= 0, got " + numSequences);
        }
        List<Range> out = new ArrayList<>(3);
        for (double[] bookend : matrix()) {
            if (bookend == null) {
                out.add(null);
            } else {
                out.add(new Range(roundHalfEven(bookend[0] * numSequences), roundHalfEven(bookend[1] * numSequences)));
            }
        }
        return Collections.unmodifiableList(out);
    }

    /** The range for one split, or null when that split is zero-width. */
    public Range range(Split split, int numSequences) {
        return ranges(numSequences).get(split.ordinal());
    }

    private static int roundHalfEven(double x) {
        // Python's round() on a float is round-half-even on the exact binary value, which is what Math.rint does.
        return (int) Math.rint(x);
    }

    @Override
    public String toString() {
        return "SplitSpec[" + text + " -> " + Arrays.toString(weights) + "]";
    }
}
