package dev.lattice.data.samples;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The {@code unique_identifiers} of a Megatron GPTDataset, whose JSON text ({@code json.dumps(..., indent=4)}) is
 * stored as {@code -description.txt} and whose MD5 names the cached index files. Field order and value types must
 * match Megatron exactly for the hash to match.
 *
 * @param datasetPath the dataset path prefix as Megatron sees it (without {@code .bin}/{@code .idx})
 * @param numSamples samples requested for the split, or null (one epoch)
 * @param split which split these indices are for
 * @param randomSeed {@code --seed}
 * @param sequenceLength {@code --seq-length}
 * @param splitText the {@code --split} string verbatim, or null when splits come from per-split data paths
 * @param splitMatrix the split matrix in description form (see {@link SplitSpec#matrixForDescription()}), or null
 * @param tokenizer the tokenizer's {@code unique_identifiers} (e.g. a LinkedHashMap with "class" and
 *     "tokenizer_path"), any value {@link PythonJson} can render
 * @param addExtraToken {@code add_extra_token_to_sequence}, a bool in Megatron's config
 */
public record GptDatasetDescription(String datasetPath, Long numSamples, Split split, long randomSeed,
        int sequenceLength, String splitText, List<?> splitMatrix, Object tokenizer, boolean addExtraToken) {

    /** Megatron's class name, the first identifier and part of every cache file name. */
    public static final String CLASS_NAME = "GPTDataset";

    /** Validates that the split is given; every other field may be null as in Megatron. */
    public GptDatasetDescription {
        Objects.requireNonNull(split, "split");
    }

    /** The description for indices built with {@code params} on a dataset split by {@code splitSpec}. */
    public static GptDatasetDescription of(String datasetPath, Split split, SplitSpec splitSpec,
            GptSampleIndex.Params params, Object tokenizer) {
        return new GptDatasetDescription(datasetPath, params.numSamples(), split, params.seed(), params.seqLength(),
                splitSpec.text(), splitSpec.matrixForDescription(), tokenizer, params.addExtraToken() != 0);
    }

    /** The identifiers as an ordered map, in Megatron's key order. */
    public Map<String, Object> identifiers() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("class", CLASS_NAME);
        m.put("dataset_path", datasetPath);
        m.put("num_samples", numSamples);
        m.put("index_split", split.pythonName());
        m.put("random_seed", randomSeed);
        m.put("sequence_length", sequenceLength);
        m.put("split", splitText);
        m.put("split_matrix", splitMatrix);
        m.put("tokenizer", tokenizer);
        m.put("add_extra_token_to_sequence", addExtraToken);
        return m;
    }

    /** The exact description text Megatron writes (no trailing newline). */
    public String toJson() {
        return PythonJson.dumps(identifiers());
    }

    /** MD5 of the UTF-8 description, lowercase hex. */
    public String md5Hex() {
        try {
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            return HexFormat.of().formatHex(md5.digest(toJson().getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is a required JDK algorithm", e);
        }
    }

    /** {@code {md5}-GPTDataset-{split}}, the common prefix of the four cache files. */
    public String baseName() {
        return md5Hex() + "-" + CLASS_NAME + "-" + split.pythonName();
    }
}
