"use strict";(self.rspackChunknbray_labextension=self.rspackChunknbray_labextension||[]).push([[694],{475(e,r,a){var t=a(601),n=a.n(t),o=a(314),i=(a.n(o))()(n());i.push([e.id,`/* The nbray sidebar. Colours come from JupyterLab's theme variables. */

.nbray-Sidebar {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: auto;
  padding: 4px 4px 12px 6px;
  min-width: 200px;
}

.nbray-Sidebar h2 {
  font-size: var(--jp-ui-font-size3);
  margin: 4px 0;
  flex: 1;
}

.nbray-Sidebar h3 {
  font-size: var(--jp-ui-font-size2);
  margin: 12px 0 4px;
}

.nbray-HeaderRow {
  display: flex;
  align-items: center;
}

.nbray-RefreshButton {
  background: none;
  border: none;
  cursor: pointer;
  padding: 2px;
}

.nbray-Target {
  color: var(--jp-ui-font-color2);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.nbray-Actions {
  margin: 6px 0;
}

.nbray-LoadButton.nbray-mod-hidden {
  display: none;
}

.nbray-Message:empty {
  display: none;
}

.nbray-Message {
  margin: 6px 0;
  padding: 6px;
  border-left: 3px solid var(--jp-brand-color1);
  background: var(--jp-layout-color2);
  font-family: var(--jp-code-font-family);
}

.nbray-Message[data-status='error'] {
  border-left-color: var(--jp-error-color1);
}

.nbray-ClusterSummary {
  margin-bottom: 6px;
}

.nbray-Node {
  margin: 4px 0 8px;
}

/* an attached driver's own store: listed, but not one of the cluster's nodes */
.nbray-Node--driver .nbray-Node-title {
  color: var(--jp-ui-font-color2);
}

.nbray-StoreBar {
  height: 8px;
  border-radius: 4px;
  background: var(--jp-layout-color3);
  margin: 3px 0;
  max-width: 360px;
}

.nbray-StoreBar-used {
  height: 8px;
  border-radius: 4px;
  background: var(--jp-brand-color1);
}

.nbray-Node-stats,
.nbray-Node-spilled {
  color: var(--jp-ui-font-color2);
}

.nbray-Controls,
.nbray-Pager {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 4px;
  margin: 4px 0;
}

.nbray-Filter {
  flex: 1;
  min-width: 140px;
}

.nbray-ObjectTableBody {
  overflow-x: auto;
}

.nbray-Table {
  border-collapse: collapse;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  width: 100%;
}

.nbray-Table th,
.nbray-Table td {
  text-align: left;
  padding: 2px 6px;
  border-bottom: 1px solid var(--jp-border-color2);
  white-space: nowrap;
  vertical-align: top;
}

.nbray-Table th.nbray-Sortable {
  cursor: pointer;
  user-select: none;
}

.nbray-Table th.nbray-Sortable:hover,
.nbray-Table th.nbray-Sorted {
  color: var(--jp-brand-color1);
}

/*
 * The object table fits a default-width sidebar (about 250 px): fixed widths for
 * id, size and where, type and holders share the rest; each cell is cut with an
 * ellipsis (the full text is in its title, and in the row's details).
 */
.nbray-ObjectTable {
  table-layout: fixed;
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size0);
}

.nbray-ObjectTable th,
.nbray-ObjectTable td {
  padding: 2px 1px;
  overflow: hidden;
  text-overflow: ellipsis;
}

.nbray-ObjectTable th {
  font-size: 10px;
  font-weight: 600;
  color: var(--jp-ui-font-color2);
}

.nbray-ObjectTable th.nbray-ObjectId {
  width: 56px;
}

.nbray-ObjectTable th.nbray-Size {
  width: 46px;
  text-align: right;
}

.nbray-ObjectTable th.nbray-Type {
  width: 17%;
}

.nbray-ObjectTable th.nbray-Where {
  width: 37px;
}

.nbray-ObjectTable td.nbray-Type,
.nbray-ObjectTable td.nbray-Where {
  font-size: 10px;
}

.nbray-ObjectTable td.nbray-Type {
  color: var(--jp-ui-font-color2);
}

.nbray-ObjectTable td.nbray-Size {
  text-align: right;
  font-variant-numeric: tabular-nums;
}

.nbray-ObjectTable td.nbray-ObjectId {
  font-family: var(--jp-code-font-family);
  font-size: 10px;
  cursor: copy;
}

.nbray-ObjectTable td.nbray-ObjectId.nbray-mod-copied {
  color: var(--jp-success-color1);
  font-family: var(--jp-ui-font-family);
}

.nbray-ObjectTable td.nbray-HeldBy {
  color: var(--jp-content-link-color, var(--jp-brand-color0));
}

.nbray-ObjectTable td.nbray-HeldBy.nbray-mod-unnamed {
  color: var(--jp-ui-font-color2);
  font-weight: normal;
}

.nbray-ObjectTable tr.nbray-Object {
  cursor: pointer;
}

.nbray-ObjectTable tr.nbray-Object:hover,
.nbray-ObjectTable tr.nbray-mod-expanded {
  background: var(--jp-layout-color2);
}

.nbray-ObjectTable tr.nbray-ObjectDetail > td {
  white-space: normal;
  background: var(--jp-layout-color2);
  padding: 2px 6px 6px;
}

.nbray-ObjectDetail dl {
  display: grid;
  grid-template-columns: max-content 1fr;
  gap: 1px 8px;
  margin: 0;
}

.nbray-ObjectDetail dt {
  color: var(--jp-ui-font-color2);
}

.nbray-ObjectDetail dd {
  margin: 0;
  overflow-wrap: anywhere;
}

.nbray-ObjectDetail dd.nbray-Detail-id {
  font-family: var(--jp-code-font-family);
  font-size: 0.95em;
}

.nbray-CopyBuffer {
  position: fixed;
  left: -9999px;
}

.nbray-Where-spilled {
  color: var(--jp-warn-color1);
}

.nbray-State-RUNNING,
.nbray-State-ALIVE {
  color: var(--jp-success-color1);
}

.nbray-State-DEAD {
  color: var(--jp-error-color1);
}

.nbray-Empty,
.nbray-More {
  color: var(--jp-ui-font-color2);
  font-style: italic;
}
`,""]),a.d(r,{},{A:i})},547(e,r,a){var t=a(601),n=a.n(t),o=a(314),i=(a.n(o))()(n());i.push([e.id,`/* The nbray charts panel (main area): a one-line header over the charts page's IFrame. */

.nbray-ChartsPanel {
  display: flex;
  flex-direction: column;
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
}

.nbray-ChartsHeader {
  flex: 0 0 auto;
  padding: 4px 12px;
  border-bottom: 1px solid var(--jp-border-color2);
}

.nbray-ChartsHeader .nbray-HeaderRow {
  gap: 12px;
}

.nbray-ChartsHeader h2 {
  font-size: var(--jp-ui-font-size2);
  margin: 2px 0;
  flex: 0 0 auto;
}

.nbray-ChartsHeader .nbray-Target {
  flex: 1;
}

/* The message keeps its one line; the button wraps under it when the panel is narrow. */
.nbray-ChartsNotice {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  column-gap: 12px;
}

.nbray-ChartsNotice .nbray-Message {
  flex: 1 1 auto;
}

.nbray-ChartsFrame {
  flex: 1 1 auto;
  min-height: 0;
}

.nbray-ChartsFrame > iframe {
  width: 100%;
  height: 100%;
  border: none;
}

.nbray-ChartsButton {
  margin-left: 6px;
}
`,""]),a.d(r,{},{A:i})},314(e){e.exports=function(e){var r=[];return r.toString=function(){return this.map(function(r){var a="",t=void 0!==r[5];return r[4]&&(a+="@supports (".concat(r[4],") {")),r[2]&&(a+="@media ".concat(r[2]," {")),t&&(a+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),a+=e(r),t&&(a+="}"),r[2]&&(a+="}"),r[4]&&(a+="}"),a}).join("")},r.i=function(e,a,t,n,o){"string"==typeof e&&(e=[[null,e,void 0]]);var i={};if(t)for(var l=0;l<this.length;l++){var c=this[l][0];null!=c&&(i[c]=!0)}for(var s=0;s<e.length;s++){var b=[].concat(e[s]);t&&i[b[0]]||(void 0!==o&&(void 0===b[5]||(b[1]="@layer".concat(b[5].length>0?" ".concat(b[5]):""," {").concat(b[1],"}")),b[5]=o),a&&(b[2]&&(b[1]="@media ".concat(b[2]," {").concat(b[1],"}")),b[2]=a),n&&(b[4]?(b[1]="@supports (".concat(b[4],") {").concat(b[1],"}"),b[4]=n):b[4]="".concat(n)),r.push(b))}},r}},601(e){e.exports=function(e){return e[1]}},72(e){var r=[];function a(e){for(var a=-1,t=0;t<r.length;t++)if(r[t].identifier===e){a=t;break}return a}function t(e,t){for(var n={},o=[],i=0;i<e.length;i++){var l=e[i],c=t.base?l[0]+t.base:l[0],s=n[c]||0,b="".concat(c," ").concat(s);n[c]=s+1;var p=a(b),d={css:l[1],media:l[2],sourceMap:l[3],supports:l[4],layer:l[5]};if(-1!==p)r[p].references++,r[p].updater(d);else{var y=function(e,r){var a=r.domAPI(r);return a.update(e),function(r){r?(r.css!==e.css||r.media!==e.media||r.sourceMap!==e.sourceMap||r.supports!==e.supports||r.layer!==e.layer)&&a.update(e=r):a.remove()}}(d,t);t.byIndex=i,r.splice(i,0,{identifier:b,updater:y,references:1})}o.push(b)}return o}e.exports=function(e,n){var o=t(e=e||[],n=n||{});return function(e){e=e||[];for(var i=0;i<o.length;i++){var l=a(o[i]);r[l].references--}for(var c=t(e,n),s=0;s<o.length;s++){var b=a(o[s]);0===r[b].references&&(r[b].updater(),r.splice(b,1))}o=c}}},659(e){var r={};e.exports=function(e,a){var t=function(e){if(void 0===r[e]){var a=document.querySelector(e);if(window.HTMLIFrameElement&&a instanceof window.HTMLIFrameElement)try{a=a.contentDocument.head}catch(e){a=null}r[e]=a}return r[e]}(e);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(a)}},540(e){e.exports=function(e){var r=document.createElement("style");return e.setAttributes(r,e.attributes),e.insert(r,e.options),r}},56(e,r,a){e.exports=function(e){var r=a.nc;r&&e.setAttribute("nonce",r)}},206(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=e.insertStyleElement(e);return{update:function(a){var t,n,o;t="",a.supports&&(t+="@supports (".concat(a.supports,") {")),a.media&&(t+="@media ".concat(a.media," {")),(n=void 0!==a.layer)&&(t+="@layer".concat(a.layer.length>0?" ".concat(a.layer):""," {")),t+=a.css,n&&(t+="}"),a.media&&(t+="}"),a.supports&&(t+="}"),(o=a.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(o))))," */")),e.styleTagTransform(t,r,e.options)},remove:function(){var e;null===(e=r).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,r){if(r.styleSheet)r.styleSheet.cssText=e;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(e))}}},469(e,r,a){var t=a(72),n=a.n(t),o=a(206),i=a.n(o),l=a(659),c=a.n(l),s=a(56),b=a.n(s),p=a(540),d=a.n(p),y=a(113),u=a.n(y),f=a(475),h={};h.styleTagTransform=u(),h.setAttributes=b(),h.insert=c().bind(null,"head"),h.domAPI=i(),h.insertStyleElement=d(),n()(f.A,h),f.A&&f.A.locals&&f.A.locals;var v=a(547),m={};m.styleTagTransform=u(),m.setAttributes=b(),m.insert=c().bind(null,"head"),m.domAPI=i(),m.insertStyleElement=d(),n()(v.A,m),v.A&&v.A.locals&&v.A.locals}}]);