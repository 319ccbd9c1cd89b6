// Every page registers the site's service worker (static/sw.js, served at /sw.js with the whole
// site as its scope): with the manifest it makes the site an installable app, and it shows the
// offline page when the site cannot be reached. The call page's settings (call/settings.js)
// register the same worker again, harmlessly, and talk to it.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => console.warn("service worker not registered", err));
}
