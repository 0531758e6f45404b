"use strict";(self.rspackChunknbray_labextension=self.rspackChunknbray_labextension||[]).push([[694],{475(r,e,a){var t=a(601),n=a.n(t),o=a(314),i=(a.n(o))()(n());i.push([r.id,`/* The nbray sidebar. Colours come from JupyterLab's theme variables. */

.nbray-Sidebar {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: auto;
  padding: 4px 8px 12px;
  min-width: 320px;
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
}

/* Long cells are cut with an ellipsis; the full text is in their title. */
.nbray-ObjectTable td.nbray-ObjectId {
  max-width: 12ch;
  overflow: hidden;
  text-overflow: ellipsis;
}

.nbray-ObjectTable td.nbray-Cut {
  max-width: 24ch;
  overflow: hidden;
  text-overflow: ellipsis;
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
`,""]),a.d(e,{},{A:i})},547(r,e,a){var t=a(601),n=a.n(t),o=a(314),i=(a.n(o))()(n());i.push([r.id,`/* The nbray charts panel (main area): a one-line header over the charts page's IFrame. */

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
`,""]),a.d(e,{},{A:i})},314(r){r.exports=function(r){var e=[];return e.toString=function(){return this.map(function(e){var a="",t=void 0!==e[5];return e[4]&&(a+="@supports (".concat(e[4],") {")),e[2]&&(a+="@media ".concat(e[2]," {")),t&&(a+="@layer".concat(e[5].length>0?" ".concat(e[5]):""," {")),a+=r(e),t&&(a+="}"),e[2]&&(a+="}"),e[4]&&(a+="}"),a}).join("")},e.i=function(r,a,t,n,o){"string"==typeof r&&(r=[[null,r,void 0]]);var i={};if(t)for(var s=0;s<this.length;s++){var l=this[s][0];null!=l&&(i[l]=!0)}for(var c=0;c<r.length;c++){var p=[].concat(r[c]);t&&i[p[0]]||(void 0!==o&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=o),a&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=a),n&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=n):p[4]="".concat(n)),e.push(p))}},e}},601(r){r.exports=function(r){return r[1]}},72(r){var e=[];function a(r){for(var a=-1,t=0;t<e.length;t++)if(e[t].identifier===r){a=t;break}return a}function t(r,t){for(var n={},o=[],i=0;i<r.length;i++){var s=r[i],l=t.base?s[0]+t.base:s[0],c=n[l]||0,p="".concat(l," ").concat(c);n[l]=c+1;var d=a(p),u={css:s[1],media:s[2],sourceMap:s[3],supports:s[4],layer:s[5]};if(-1!==d)e[d].references++,e[d].updater(u);else{var b=function(r,e){var a=e.domAPI(e);return a.update(r),function(e){e?(e.css!==r.css||e.media!==r.media||e.sourceMap!==r.sourceMap||e.supports!==r.supports||e.layer!==r.layer)&&a.update(r=e):a.remove()}}(u,t);t.byIndex=i,e.splice(i,0,{identifier:p,updater:b,references:1})}o.push(p)}return o}r.exports=function(r,n){var o=t(r=r||[],n=n||{});return function(r){r=r||[];for(var i=0;i<o.length;i++){var s=a(o[i]);e[s].references--}for(var l=t(r,n),c=0;c<o.length;c++){var p=a(o[c]);0===e[p].references&&(e[p].updater(),e.splice(p,1))}o=l}}},659(r){var e={};r.exports=function(r,a){var t=function(r){if(void 0===e[r]){var a=document.querySelector(r);if(window.HTMLIFrameElement&&a instanceof window.HTMLIFrameElement)try{a=a.contentDocument.head}catch(r){a=null}e[r]=a}return e[r]}(r);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(a)}},540(r){r.exports=function(r){var e=document.createElement("style");return r.setAttributes(e,r.attributes),r.insert(e,r.options),e}},56(r,e,a){r.exports=function(r){var e=a.nc;e&&r.setAttribute("nonce",e)}},825(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var e=r.insertStyleElement(r);return{update:function(a){var t,n,o;t="",a.supports&&(t+="@supports (".concat(a.supports,") {")),a.media&&(t+="@media ".concat(a.media," {")),(n=void 0!==a.layer)&&(t+="@layer".concat(a.layer.length>0?" ".concat(a.layer):""," {")),t+=a.css,n&&(t+="}"),a.media&&(t+="}"),a.supports&&(t+="}"),(o=a.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(o))))," */")),r.styleTagTransform(t,e,r.options)},remove:function(){var r;null===(r=e).parentNode||r.parentNode.removeChild(r)}}}},113(r){r.exports=function(r,e){if(e.styleSheet)e.styleSheet.cssText=r;else{for(;e.firstChild;)e.removeChild(e.firstChild);e.appendChild(document.createTextNode(r))}}},469(r,e,a){var t=a(72),n=a.n(t),o=a(825),i=a.n(o),s=a(659),l=a.n(s),c=a(56),p=a.n(c),d=a(540),u=a.n(d),b=a(113),f=a.n(b),y=a(475),h={};h.styleTagTransform=f(),h.setAttributes=p(),h.insert=l().bind(null,"head"),h.domAPI=i(),h.insertStyleElement=u(),n()(y.A,h),y.A&&y.A.locals&&y.A.locals;var v=a(547),m={};m.styleTagTransform=f(),m.setAttributes=p(),m.insert=l().bind(null,"head"),m.domAPI=i(),m.insertStyleElement=u(),n()(v.A,m),v.A&&v.A.locals&&v.A.locals}}]);