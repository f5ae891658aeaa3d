package dev.lattice.spark.train;

import dev.lattice.parallel.nccl.NcclGroupIds;

import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The NCCL unique ids of a run as text, for the rendezvous ({@code BarrierTaskContext.allGather} carries strings):
 * a header line, then one {@code key=base64(id)} line per group, e.g. {@code dp[0,2]=AgC…}. Rank 0 encodes the ids it
 * generated; every rank decodes them into a {@code LocalNcclGroupIds}. A message that does not parse is an error
 * naming the line and what is wrong with it, never a silently missing group.
 */
final class NcclIdMessage {

    static final String HEADER = "lattice-nccl-ids 1";

    /** {@code name[m0,m1,…]} as {@link NcclGroupIds#key} writes it. */
    private static final Pattern KEY = Pattern.compile("[A-Za-z][A-Za-z0-9_-]*\\[\\d+(,\\d+)*]");

    private NcclIdMessage() {
    }

    static String encode(Map<String, byte[]> ids) {
        StringBuilder b = new StringBuilder(HEADER);
        Base64.Encoder base64 = Base64.getEncoder();
        ids.forEach((key, id) -> {
            if (!KEY.matcher(key).matches()) {
                throw new IllegalArgumentException("'" + key + "' is not an NCCL group key (name[ranks])");
            }
            if (id == null || id.length != NcclGroupIds.ID_BYTES) {
                throw new IllegalArgumentException("NCCL id of group " + key + " has "
                        + (id == null ? "no" : String.valueOf(id.length)) + " bytes, expected "
                        + NcclGroupIds.ID_BYTES);
            }
            b.append('\n').append(key).append('=').append(base64.encodeToString(id));
        });
        return b.toString();
    }

    /**
     * @return group key → id, in the message's order
     * @throws IllegalStateException naming the offending line: no header (another Lattice build?), a line without
     *     {@code =}, a key that is not {@code name[ranks]}, a key given twice, an id that is not base64 or not
     *     {@value NcclGroupIds#ID_BYTES} bytes
     */
    static Map<String, byte[]> decode(String message) {
        if (message == null || message.isEmpty()) {
            throw malformed("it is empty");
        }
        String[] lines = message.split("\n", -1);
        if (!lines[0].equals(HEADER)) {
            throw malformed("its first line is '" + abbreviate(lines[0]) + "', expected '" + HEADER
                    + "' (a different Lattice build?)");
        }
        Map<String, byte[]> ids = new LinkedHashMap<>();
        Base64.Decoder base64 = Base64.getDecoder();
        for (int i = 1; i < lines.length; i++) {
            String line = lines[i];
            String where = "line " + (i + 1) + " '" + abbreviate(line) + "'";
            int eq = line.indexOf('=');
            if (eq < 0) {
                throw malformed(where + " has no '=' (expected group-key=base64-id)");
            }
            String key = line.substring(0, eq);
            if (!KEY.matcher(key).matches()) {
                throw malformed(where + ": '" + abbreviate(key) + "' is not an NCCL group key (name[ranks])");
            }
            byte[] id;
            try {
                id = base64.decode(line.substring(eq + 1));
            } catch (IllegalArgumentException e) {
                throw malformed(where + ": the id of group " + key + " is not base64 (" + e.getMessage() + ")");
            }
            if (id.length != NcclGroupIds.ID_BYTES) {
                throw malformed(where + ": the id of group " + key + " has " + id.length + " bytes, expected "
                        + NcclGroupIds.ID_BYTES);
            }
            if (ids.put(key, id) != null) {
                throw malformed(where + ": group " + key + " appears twice");
            }
        }
        return Collections.unmodifiableMap(ids);
    }

    private static IllegalStateException malformed(String what) {
        return new IllegalStateException("malformed NCCL id message from rank 0: " + what);
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }
}
