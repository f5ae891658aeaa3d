package dev.lattice.data.storage;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.ServiceLoader;

/** Picks the storage for a path by its scheme. */
public final class Storages {

    private Storages() {
    }

    /** Local files for plain paths and {@code file:}, else the first provider that supports the scheme. */
    public static Storage forPath(String path) {
        String scheme = schemeOf(path);
        if (scheme == null || scheme.equals("file")) {
            return LocalStorage.INSTANCE;
        }
        for (StorageProvider provider : ServiceLoader.load(StorageProvider.class)) {
            if (provider.supports(scheme)) {
                return provider.storageFor(path);
            }
        }
        throw new IllegalArgumentException(path + ": no storage for scheme '" + scheme
                + "://' on the classpath (hdfs:// and s3a:// need the lattice-spark module and Hadoop)");
    }

    /** The URI scheme of {@code path}, or null for a plain local path. */
    public static String schemeOf(String path) {
        int colon = path.indexOf(':');
        if (colon <= 1) { // no scheme, or a Windows drive letter
            return null;
        }
        try {
            String scheme = new URI(path.replace(" ", "%20")).getScheme();
            return scheme == null ? null : scheme.toLowerCase(java.util.Locale.ROOT);
        } catch (URISyntaxException e) {
            return null;
        }
    }
}
