// Shoal never creates WebRTC peers; anything that reaches for them fails loudly.
export default new Proxy({}, {
  get (_target, name) {
    throw new Error(`WebRTC is not available in Shoal (webrtc-polyfill.${String(name)})`)
  }
})
