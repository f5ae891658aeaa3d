package dev.lattice.data.samples;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Megatron's {@code --data-path} list ({@code get_blend_from_list}): either weight/prefix pairs
 * ({@code 0.3 A 0.7 B}) or prefixes only ({@code A B C}).
 *
 * <p>Megatron decides by parity and by whether the would-be weights parse as floats: an odd-length list, or an
 * even-length one whose weight positions are all non-numeric, is prefixes only. We follow that, but reject what
 * Megatron lets through by accident or only asserts later: a mix of numeric and non-numeric weight positions, and
 * weights that are not finite and positive.
 *
 * @param prefixes dataset path prefixes, stripped of surrounding whitespace
 * @param weights raw weights, one per prefix, or null for an unweighted blend
 */
public record DataPathSpec(List<String> prefixes, List<Double> weights) {

    /** Python float() syntax for finite decimal numbers (no inf/nan, which are useless as weights). */
    private static final Pattern FLOAT = Pattern.compile(
            "[+-]?(\\d(_?\\d)*(\\.(\\d(_?\\d)*)?)?|\\.\\d(_?\\d)*)([eE][+-]?\\d(_?\\d)*)?");

    /** Copies both lists so the spec is immutable. */
    public DataPathSpec {
        prefixes = List.copyOf(prefixes);
        weights = weights == null ? null : List.copyOf(weights);
    }

    /**
     * Parses the tokens following {@code --data-path}.
     *
     * @throws IllegalArgumentException naming the offending token: an empty list, an empty prefix, a non-numeric
     *     weight among numeric ones, or a weight that is not positive
     */
    public static DataPathSpec parse(List<String> tokens) {
        Objects.requireNonNull(tokens, "tokens");
        if (tokens.isEmpty()) {
            throw new IllegalArgumentException("--data-path is empty; expected prefixes or weight/prefix pairs");
        }
        if (tokens.size() % 2 == 1 || noneNumeric(tokens)) {
            List<String> prefixes = new ArrayList<>();
            for (int i = 0; i < tokens.size(); i++) {
                prefixes.add(prefix(tokens, i));
            }
            return new DataPathSpec(prefixes, null);
        }
        List<String> prefixes = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i += 2) {
            String raw = tokens.get(i);
            if (!isNumber(raw)) {
                throw new IllegalArgumentException("--data-path token " + (i + 1) + " \"" + raw
                        + "\" should be a weight: the list mixes weights and bare prefixes (" + tokens + ")");
            }
            double w = Double.parseDouble(raw.strip().replace("_", ""));
            if (!(w > 0) || Double.isInfinite(w)) {
                throw new IllegalArgumentException("--data-path weight \"" + raw + "\" (token " + (i + 1)
                        + ") must be a positive number");
            }
            weights.add(w);
            prefixes.add(prefix(tokens, i + 1));
        }
        return new DataPathSpec(prefixes, weights);
    }

    private static boolean noneNumeric(List<String> tokens) {
        for (int i = 0; i < tokens.size(); i += 2) {
            if (isNumber(tokens.get(i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean isNumber(String token) {
        return token != null && FLOAT.matcher(token.strip()).matches();
    }

    private static String prefix(List<String> tokens, int i) {
        String raw = tokens.get(i);
        String p = raw == null ? "" : raw.strip();
        if (p.isEmpty()) {
            throw new IllegalArgumentException("--data-path token " + (i + 1) + " is an empty prefix");
        }
        return p;
    }

    /** Whether the blend carries explicit weights. */
    public boolean weighted() {
        return weights != null;
    }

    /** The weights as a double array (raw, not normalized), or null when unweighted. */
    public double[] weightArray() {
        if (weights == null) {
            return null;
        }
        double[] out = new double[weights.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = weights.get(i);
        }
        return out;
    }

    /** Number of datasets in the blend. */
    public int size() {
        return prefixes.size();
    }
}
